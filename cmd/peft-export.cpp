// peft-export: an adapter bundle out of vpet. --merge folds a method whose
// update is linear in the weights (LoRA, SPT-LoRA, BitFit, full, the linear
// probe's head) into the backbone and writes a plain checkpoint that timm,
// torchvision or transformers loads by name.
#include <string>
#include <vector>

#include "vpet/cli/common_options.h"
#include "vpet/cli/log.h"
#include "vpet/cli/program.h"
#include "vpet/error.h"
#include "vpet/eval/task.h"
#include "vpet/io/output_set.h"
#include "vpet/model/export.h"
#include "vpet/peft/bundle.h"
#include "vpet/peft/merge.h"

namespace {

namespace cli = vpet::cli;
using vpet::UsageError;
using vpet::model::Layout;

void declare(cxxopts::Options& options) {
  cli::add_model_options(options);
  // clang-format off
  options.add_options("Model")
    ("a,adapter", "Adapter bundle from peft-train", cxxopts::value<std::string>(), "FILE");
  options.add_options("Export")
    ("merge",
     "Fold the adapter into the backbone's weights and write the merged model with the "
     "adapter's head (LoRA, SPT-LoRA, BitFit, full, linear)")
    ("layout",
     "Key layout of the merged checkpoint: timm, torchvision (VisionTransformer's state_dict) "
     "or hf (ViTForImageClassification, with config.json beside it)",
     cxxopts::value<std::string>()->default_value("timm"),
     "NAME");
  // clang-format on
  cli::add_output_option(options, "Merged checkpoint (.safetensors)");
}

Layout parse_layout(const std::string& name) {
  if (name == "timm") return Layout::Timm;
  if (name == "torchvision") return Layout::Torchvision;
  if (name == "hf") return Layout::HuggingFace;
  throw UsageError("--layout must be timm, torchvision or hf, not '" + name + "'");
}

// FILE in the folder of `path`.
std::string beside(const std::string& path, const std::string& file) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? file : path.substr(0, slash + 1) + file;
}

int run(const cxxopts::ParseResult& result) {
  const std::string model_path = cli::required_string(result, "model", "-m/--model");
  const std::string adapter = cli::required_string(result, "adapter", "-a/--adapter");
  if (!result.count("merge")) throw UsageError("missing --merge (what to export)");
  const Layout layout = parse_layout(result["layout"].as<std::string>());
  const std::string output_path = result["output"].as<std::string>();
  if (layout == Layout::HuggingFace && output_path == "-") {
    throw UsageError("--layout hf writes config.json beside the weights: give -o a file");
  }
  const vpet::model::LoadOptions load_options = cli::read_model_options(result, cli::Runtime{});

  // Checked before the work, written together after it.
  vpet::io::OutputSet outputs;
  vpet::io::AtomicOutput& weights = outputs.open("-o/--output", output_path);
  vpet::io::AtomicOutput* config = layout == Layout::HuggingFace
                                       ? &outputs.open("config.json", beside(output_path,
                                                                             "config.json"),
                                                       /*binary=*/false)
                                       : nullptr;

  const vpet::peft::Bundle bundle = vpet::peft::read_bundle(adapter);
  vpet::model::Backbone backbone =
      vpet::eval::load_backbone_for(bundle, adapter, model_path, load_options);
  const vpet::io::TensorMap merged =
      vpet::peft::merged_checkpoint(bundle, adapter, backbone, layout);
  vpet::io::write_safetensors(weights, merged);
  if (config) {
    const std::string text =
        vpet::model::hf_vit_config(backbone.vit->config(), bundle.classes).dump(2) + "\n";
    config->write(text.data(), text.size());
  }
  outputs.commit();
  cli::info("merged " + bundle.method + " into " + model_path + ": " +
            std::to_string(merged.tensors.size()) + " tensors in " +
            vpet::model::layout_name(layout) + " layout written to " + weights.display_name());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return vpet::cli::run_program(
      {"peft-export", "Export an adapter bundle: merged into its backbone as a plain checkpoint.",
       "-m MODEL -a ADAPTER --merge [--layout timm|torchvision|hf] -o MODEL.safetensors",
       declare, run},
      argc, argv);
}
