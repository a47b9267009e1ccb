// peft-export: adapter bundles out of vpet and back. --merge folds a method
// whose update a plain ViT can hold (LoRA, DoRA, SSF, head-class, SPT-LoRA,
// BitFit, full, the linear probe's head) into the backbone and writes a plain
// checkpoint that timm, torchvision or transformers loads by name; --peft
// writes a LoRA or DoRA bundle as a Hugging Face peft adapter folder;
// --from-peft reads a LoRA one back.
#include <sys/stat.h>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "vpet/cli/common_options.h"
#include "vpet/cli/log.h"
#include "vpet/cli/program.h"
#include "vpet/error.h"
#include "vpet/eval/bundle_backbone.h"
#include "vpet/image/preprocess.h"
#include "vpet/io/output_set.h"
#include "vpet/model/export.h"
#include "vpet/peft/bundle.h"
#include "vpet/peft/hf_peft.h"
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
     "adapter's head (LoRA, SPT-LoRA, BitFit, full, linear) to -o")
    ("layout",
     "--merge: key layout of the merged checkpoint: timm, torchvision (VisionTransformer's "
     "state_dict) or hf (ViTForImageClassification, with config.json beside it)",
     cxxopts::value<std::string>()->default_value("timm"),
     "NAME")
    ("peft",
     "Write the LoRA or DoRA adapter as a Hugging Face peft adapter folder (adapter_config.json, "
     "adapter_model.safetensors) for the base -m (timm or Hugging Face ViT)",
     cxxopts::value<std::string>(),
     "DIR")
    ("from-peft",
     "Read a peft LoRA adapter folder for the base -m and write it as a vpet adapter bundle "
     "to -o",
     cxxopts::value<std::string>(),
     "DIR");
  // clang-format on
  cli::add_preprocess_options(options);
  cli::add_output_option(options,
                         "--merge: merged checkpoint (.safetensors); --from-peft: adapter bundle");
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

int merge(const cxxopts::ParseResult& result, const std::string& model_path,
          const std::string& adapter, const vpet::model::LoadOptions& load_options) {
  const Layout layout = parse_layout(result["layout"].as<std::string>());
  const std::string output_path = result["output"].as<std::string>();
  if (layout == Layout::HuggingFace && output_path == "-") {
    throw UsageError("--layout hf writes config.json beside the weights: give -o a file");
  }
  // Checked before the work, written together after it.
  vpet::io::OutputSet outputs;
  vpet::io::AtomicOutput& weights = outputs.open("-o/--output", output_path);
  vpet::io::AtomicOutput* config =
      layout == Layout::HuggingFace
          ? &outputs.open("config.json", beside(output_path, "config.json"), /*binary=*/false)
          : nullptr;

  const vpet::peft::Bundle bundle = vpet::peft::read_bundle(adapter);
  vpet::model::Backbone backbone =
      vpet::eval::load_bundle_backbone(model_path, load_options, bundle, adapter);
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

int to_peft(const std::string& dir, const std::string& model_path, const std::string& adapter,
            const vpet::model::LoadOptions& load_options) {
  const vpet::peft::Bundle bundle = vpet::peft::read_bundle(adapter);
  const vpet::model::Backbone backbone =
      vpet::eval::load_bundle_backbone(model_path, load_options, bundle, adapter);
  const vpet::peft::PeftFolder folder = vpet::peft::to_peft(bundle, adapter, backbone);
  // As save_pretrained does, the folder is made when missing.
  if (::mkdir(dir.c_str(), 0777) != 0 && errno != EEXIST) {
    throw vpet::Error(dir + ": cannot make the folder: " + std::strerror(errno));
  }
  vpet::io::OutputSet outputs;
  vpet::io::AtomicOutput& config =
      outputs.open("--peft", dir + "/adapter_config.json", /*binary=*/false);
  vpet::io::AtomicOutput& weights = outputs.open("--peft", dir + "/adapter_model.safetensors");
  const std::string text = folder.config.dump(2) + "\n";
  config.write(text.data(), text.size());
  vpet::io::write_safetensors(weights, folder.weights);
  outputs.commit();
  cli::info("wrote " + std::to_string(folder.config["target_modules"].size()) +
            (folder.config["use_dora"] == true ? " DoRA" : " LoRA") + " modules for peft to " +
            dir);
  return 0;
}

int from_peft(const cxxopts::ParseResult& result, const std::string& dir,
              const std::string& model_path, const vpet::model::LoadOptions& load_options,
              const std::vector<std::string>& args) {
  vpet::io::OutputSet outputs;
  vpet::io::AtomicOutput& output = outputs.open("-o/--output", result["output"].as<std::string>());
  const vpet::peft::PeftFolder folder = vpet::peft::read_peft_folder(dir);
  vpet::model::Backbone backbone = vpet::model::load_backbone(model_path, load_options);
  vpet::peft::Bundle bundle = vpet::peft::from_peft(folder, dir, backbone);
  // The folder's preprocessing (written by --peft), else the options'.
  if (bundle.preprocess.is_null()) {
    bundle.preprocess = vpet::image::to_json(cli::read_preprocess_options(result, backbone));
  }
  // The bundle must rebuild: what peft-eval will do with it.
  vpet::peft::rebuild_method(bundle, dir, backbone);
  vpet::peft::write_bundle(output, bundle, "peft-export", args);
  outputs.commit();
  cli::info("read a rank-" + bundle.config["rank"].dump() + " LoRA on " +
            bundle.config["targets"].dump() + " from " + dir);
  return 0;
}

int run(const cxxopts::ParseResult& result, const std::vector<std::string>& args) {
  const std::string model_path = cli::required_string(result, "model", "-m/--model");
  const int modes = int(result.count("merge") + result.count("peft") + result.count("from-peft"));
  if (modes != 1) {
    throw UsageError(std::string(modes ? "only one of" : "missing") +
                     " --merge, --peft DIR or --from-peft DIR (what to export)");
  }
  const vpet::model::LoadOptions load_options = cli::read_model_options(result, cli::Runtime{});
  if (result.count("from-peft")) {
    if (result.count("adapter")) throw UsageError("--from-peft reads the folder, not -a");
    return from_peft(result, result["from-peft"].as<std::string>(), model_path, load_options, args);
  }
  const std::string adapter = cli::required_string(result, "adapter", "-a/--adapter");
  if (result.count("peft")) {
    if (result.count("output")) throw UsageError("--peft writes the folder DIR, not -o");
    return to_peft(result["peft"].as<std::string>(), model_path, adapter, load_options);
  }
  return merge(result, model_path, adapter, load_options);
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args = vpet::cli::command_line(argc, argv);
  return vpet::cli::run_program(
      {"peft-export",
       "Export an adapter bundle: merged into its backbone, or as a Hugging Face peft folder.",
       "-m MODEL (-a ADAPTER --merge [--layout timm|torchvision|hf] -o MERGED.safetensors | "
       "-a ADAPTER --peft DIR | --from-peft DIR -o ADAPTER)",
       declare, [&](const cxxopts::ParseResult& result) { return run(result, args); }},
      argc, argv);
}
