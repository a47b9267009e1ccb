// The shared option table (cli/common_options.h, cli/augment_options.h): the
// input is a command line, arguments separated by NUL bytes, parsed and read
// back into the library's option structs. -t/--threads is parsed but not
// applied (it would set LibTorch's thread pool).
#include "fuzz/fuzz.h"
#include "vpet/cli/augment_options.h"
#include "vpet/cli/common_options.h"

VPET_FUZZ_TARGET(options) {
  // The preprocessing defaults come from a backbone: the smallest ViT there is.
  static const vpet::model::Backbone backbone =
      vpet::model::load_backbone("random:width=8,depth=0,heads=1,patch=8,img=16");
  std::vector<std::string> arguments{"vpet-fuzz"};
  const std::string text(reinterpret_cast<const char*>(data), size);
  for (std::size_t at = 0; at <= text.size() && arguments.size() < 64;) {
    const std::size_t end = std::min(text.find('\0', at), text.size());
    arguments.push_back(text.substr(at, end - at));
    at = end + 1;
  }
  std::vector<char*> argv;
  for (std::string& argument : arguments) argv.push_back(argument.data());
  cxxopts::Options options("vpet-fuzz");
  vpet::cli::add_runtime_options(options);
  vpet::cli::add_precision_option(options);
  vpet::cli::add_model_options(options);
  vpet::cli::add_data_options(options);
  vpet::cli::add_preprocess_options(options);
  vpet::cli::add_batch_option(options, 64);
  vpet::cli::add_augment_options(options);
  vpet::cli::add_output_option(options, "the output");
  vpet::fuzz::expect_clean_failure([&] {
    try {
      const cxxopts::ParseResult result = options.parse(int(argv.size()), argv.data());
      (void)vpet::cli::read_precision_option(result);
      (void)vpet::cli::read_data_options(result);
      const vpet::image::Preprocess preprocess =
          vpet::cli::read_preprocess_options(result, backbone);
      (void)vpet::cli::read_augment_options(result, preprocess);
      (void)vpet::cli::read_loader_options(result, vpet::cli::Runtime{});
    } catch (const cxxopts::exceptions::exception&) {
      // A usage error: run_program() reports it, exit 2.
    }
  });
  return 0;
}
