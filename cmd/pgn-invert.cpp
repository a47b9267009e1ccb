// pgn-invert: move a PGN adapter's token library into pixel space through
// the pseudo-inverse of the backbone's patch embedding, so that the served
// model needs nothing but its normal input (PGN's prompt inversion). Writes
// a "pixel-prompts" bundle that peft-eval -a runs input-only.
#include <torch/torch.h>

#include <cstdio>
#include <string>
#include <vector>

#include "vpet/cli/common_options.h"
#include "vpet/cli/log.h"
#include "vpet/cli/program.h"
#include "vpet/error.h"
#include "vpet/eval/task.h"
#include "vpet/image/preprocess.h"
#include "vpet/io/output_set.h"
#include "vpet/model/checkpoint.h"
#include "vpet/peft/bundle.h"

namespace {

namespace cli = vpet::cli;
using vpet::Error;
using vpet::UsageError;

void declare(cxxopts::Options& options) {
  cli::add_model_options(options);
  // clang-format off
  options.add_options("Input")
    ("i,input", "The PGN adapter bundle (latent library)", cxxopts::value<std::string>(), "BUNDLE");
  options.add_options("Method")
    ("rgb8",
     "Deploy 8-bit RGB prompts: each image's mixed prompt patches are clipped to the valid range "
     "and quantised before the patch embedding, as a client sending RGB would");
  // clang-format on
  cli::add_output_option(options, "Pixel-prompts bundle");
  cli::add_runtime_options(options);
}

int run(const cxxopts::ParseResult& result, const std::vector<std::string>& args) {
  const std::string model_path = cli::required_string(result, "model", "-m/--model");
  const std::string input = cli::required_string(result, "input", "-i/--input");
  vpet::io::OutputSet outputs;
  vpet::io::AtomicOutput& output = outputs.open("-o/--output", result["output"].as<std::string>());
  const bool quantise = result.count("rgb8") > 0;
  const cli::Runtime runtime = cli::read_runtime_options(result);

  vpet::peft::Bundle bundle = vpet::peft::read_bundle(input);
  if (bundle.method != "pgn") throw Error(input + ": a " + bundle.method + " bundle, not pgn");
  if (bundle.config.value("pgn_fixed", nlohmann::json(false)) == true) {
    throw Error(input + ": fixed PGN prompts (--pgn-fixed) have no library to invert");
  }
  if (bundle.config.value("pgn_pixels", nlohmann::json(false)) == true) {
    throw Error(input + ": the library is in pixel space already");
  }
  vpet::model::Backbone backbone =
      vpet::model::load_backbone(model_path, cli::read_model_options(result, runtime));
  // The latent bundle must be one peft-eval runs (configuration, library and
  // generator whole), or its pixel form would be written and refused later.
  (void)vpet::eval::adapter_task(bundle, input, backbone);
  const vpet::model::VitConfig& config = backbone.vit->config();

  // e(p) = W p + b on a flattened patch; Q_n = W⁺ (L_n − b), in double.
  torch::NoGradGuard no_grad;
  const auto& proj = backbone.vit->patch_embed->proj;
  const torch::Tensor w = proj->weight.detach().to(torch::kCPU, torch::kFloat64).flatten(1);
  const torch::Tensor b = proj->bias.defined()
                              ? proj->bias.detach().to(torch::kCPU, torch::kFloat64)
                              : torch::zeros({w.size(0)}, torch::kFloat64);
  const torch::Tensor library = bundle.tensor("library", input).to(torch::kFloat64);
  if (library.dim() != 2 || library.size(1) != w.size(0)) {
    throw Error(input + ": the library is not [N, " + std::to_string(w.size(0)) + "]");
  }
  const std::int64_t patch_values = w.size(1);  // C·p·p
  if (w.size(0) > patch_values) {
    cli::warn("the embedding width " + std::to_string(w.size(0)) + " exceeds the " +
              std::to_string(patch_values) +
              " values of a patch: the inversion is a least-squares fit, not exact");
  }
  torch::Tensor pixels = torch::matmul(library - b, torch::linalg_pinv(w).t());  // [N, C·p·p]
  const double latent_error =
      (torch::matmul(pixels, w.t()) + b - library).abs().max().item<double>();

  // 8-bit RGB: de-normalise, clip, quantise, normalise back.
  const vpet::image::Preprocess preprocess = vpet::image::preprocess_from_json(bundle.preprocess);
  const auto channels = config.in_chans;
  const torch::Tensor mean = torch::tensor(std::vector<double>(preprocess.mean.begin(),
                                                               preprocess.mean.begin() + channels),
                                           torch::kFloat64)
                                 .view({1, channels, 1, 1});
  const torch::Tensor spread =
      torch::tensor(std::vector<double>(preprocess.std.begin(), preprocess.std.begin() + channels),
                    torch::kFloat64)
          .view({1, channels, 1, 1});
  pixels = pixels.view({library.size(0), channels, config.patch_size, config.patch_size});
  const torch::Tensor rgb = pixels * spread + mean;
  const double clipped = (rgb.lt(0) | rgb.gt(1)).to(torch::kFloat64).mean().item<double>();
  const torch::Tensor rgb8 = (rgb.clamp(0, 1) * 255.0).round();
  // With --rgb8 the library stays exact: each image's mixture of it is what
  // gets quantised, at deployment (peft-eval reports that error). Here: the
  // error of each token sent alone as 8-bit RGB.
  const torch::Tensor sent_alone = quantise ? (rgb8 / 255.0 - mean) / spread : pixels;
  const double deployed_error =
      (torch::matmul(sent_alone.flatten(1), w.t()) + b - library).abs().max().item<double>();

  char line[240];
  std::snprintf(line, sizeof line,
                "latent reconstruction max |error| %.3g (exact pixels), %.3g %s; %.1f%% of the "
                "RGB values fall outside [0, 1]",
                latent_error, deployed_error,
                quantise ? "for a token sent alone as 8-bit RGB" : "as deployed", 100.0 * clipped);
  cli::info(line);

  for (auto& [name, tensor] : bundle.tensors) {
    if (name == "library") {
      name = "pixel_library";
      tensor = pixels.to(torch::kFloat32);
    }
  }
  bundle.structure.emplace_back("pixel_library_rgb8",
                                rgb8.permute({0, 2, 3, 1}).to(torch::kUInt8).contiguous());
  bundle.config["pgn_pixels"] = true;
  if (quantise) {
    bundle.config["pgn_rgb8"] = true;
    bundle.structure.emplace_back("pixel_mean", mean.flatten().to(torch::kFloat32));
    bundle.structure.emplace_back("pixel_std", spread.flatten().to(torch::kFloat32));
  }
  // The pixel library replaces the latent one: N·C·p² trained values, not N·D.
  std::int64_t params = 0;
  for (const auto& [name, tensor] : bundle.tensors) params += tensor.numel();
  bundle.training["params_trainable"] = params;
  bundle.training["inversion"] = {{"pixels", quantise ? "rgb8" : "exact"},
                                  {"latent_max_abs_error", latent_error},
                                  {"deployed_max_abs_error", deployed_error},
                                  {"clipped_fraction", clipped},
                                  {"least_squares", w.size(0) > patch_values}};
  vpet::peft::write_bundle(output, bundle, "pgn-invert", args, "pixel-prompts");
  outputs.commit();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args = vpet::cli::command_line(argc, argv);
  return vpet::cli::run_program(
      {"pgn-invert",
       "Invert a PGN adapter's token library to pixel prompts for input-only deployment.",
       "-m MODEL -i PGN_ADAPTER -o PIXEL_PROMPTS [OPTIONS]", declare,
       [&](const cxxopts::ParseResult& result) { return run(result, args); }},
      argc, argv);
}
