// vit-extract's tokens streams, as prompt-init-proto reads them (two prompts
// per layer, random prototypes).
#include "fuzz/fuzz.h"
#include "vpet/proto/prompt_init.h"

VPET_FUZZ_TARGET(tokens) {
  const vpet::fuzz::InputFile file(data, size);
  vpet::fuzz::expect_clean_failure([&] {
    vpet::proto::TokenStream input(file.path());
    const std::vector<std::int64_t> layers =
        vpet::proto::prompt_layers(true, input.backbone_depth());
    input.select_layers(layers);
    vpet::proto::PrototypeOptions options;
    options.prompts = 2;
    (void)vpet::proto::build_prompt_init(input, layers, options, [](std::int64_t) {});
  });
  return 0;
}
