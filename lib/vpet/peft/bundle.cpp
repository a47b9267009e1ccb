#include "vpet/peft/bundle.h"

#include "vpet/error.h"
#include "vpet/io/atomic_file.h"
#include "vpet/io/numpy_dtype.h"
#include "vpet/io/stream.h"
#include "vpet/model/fingerprint.h"
#include "vpet/peft/registry.h"
#include "vpet/peft/settings.h"

namespace vpet::peft {
namespace {

constexpr const char* kHeadWeight = "head.weight";
constexpr const char* kHeadBias = "head.bias";
constexpr const char* kStructurePrefix = "structure.";

}  // namespace

std::string Bundle::fingerprint() const {
  return backbone.is_object() ? backbone.value("fingerprint", "") : "";
}

const torch::Tensor& Bundle::tensor(const std::string& name, const std::string& path) const {
  for (const auto& [tensor_name, value] : tensors) {
    if (tensor_name == name) return value;
  }
  throw Error(path + ": the " + method + " bundle lacks the tensor '" + name + "'");
}

void write_bundle(const std::string& path, const Bundle& bundle, const std::string& program,
                  const std::vector<std::string>& args, const std::string& kind) {
  io::AtomicOutput output(path);
  write_bundle(output, bundle, program, args, kind);
  output.commit();
}

void write_bundle(io::AtomicOutput& output, const Bundle& bundle, const std::string& program,
                  const std::vector<std::string>& args, const std::string& kind) {
  if (!bundle.head_weight.defined() || !bundle.head_bias.defined()) {
    throw Error(output.display_name() + ": a bundle needs the head's weight and bias");
  }
  nlohmann::json header = io::make_header(kind, program, args);
  header["method"] = bundle.method;
  header["config"] = bundle.config;
  header["backbone"] = bundle.backbone;
  header["classes"] = bundle.classes;
  header["preprocess"] = bundle.preprocess;
  header["training"] = bundle.training;
  io::Record record;
  for (const auto& [name, tensor] : bundle.tensors) {
    record.tensors.emplace_back(name, tensor.detach().to(torch::kCPU));
  }
  for (const auto& [name, tensor] : bundle.structure) {
    record.tensors.emplace_back(kStructurePrefix + name, tensor.detach().to(torch::kCPU));
  }
  record.tensors.emplace_back(kHeadWeight, bundle.head_weight.detach().to(torch::kCPU));
  record.tensors.emplace_back(kHeadBias, bundle.head_bias.detach().to(torch::kCPU));
  // A bundle with NaN or infinite weights is never written (peft-eval would
  // refuse it anyway): say which tensor went wrong.
  for (const auto& [name, tensor] : record.tensors) {
    try {
      io::require_sane_values(tensor);
    } catch (const Error& e) {
      throw Error(output.display_name() + ": not written: tensor '" + name + "': " + e.what());
    }
  }
  io::write_one_shot(output, header, record);
}

Bundle read_bundle(const std::string& path) {
  io::OneShot file = io::read_one_shot(path, std::vector<std::string>{"adapter", "pixel-prompts"});
  const nlohmann::json& header = file.header;
  Bundle bundle;
  try {
    bundle.method = header.at("method").get<std::string>();
    bundle.config = header.at("config");
    bundle.backbone = header.at("backbone");
    bundle.classes = header.at("classes").get<std::vector<std::string>>();
    bundle.preprocess = header.at("preprocess");
    bundle.training = header.value("training", nlohmann::json::object());
  } catch (const nlohmann::json::exception& e) {
    throw Error(file.name + ": not a valid adapter bundle header: " + e.what());
  }
  model::recorded_fingerprint(header, file.name);
  for (auto& [name, tensor] : file.record.tensors) {
    if (name == kHeadWeight) {
      bundle.head_weight = tensor;
    } else if (name == kHeadBias) {
      bundle.head_bias = tensor;
    } else if (name.rfind(kStructurePrefix, 0) == 0) {
      bundle.structure.emplace_back(name.substr(std::string(kStructurePrefix).size()), tensor);
    } else {
      bundle.tensors.emplace_back(name, tensor);
    }
  }
  if (!bundle.head_weight.defined() || !bundle.head_bias.defined()) {
    throw Error(file.name + ": the bundle has no head (head.weight, head.bias)");
  }
  const auto classes = std::int64_t(bundle.classes.size());
  if (bundle.head_weight.dim() != 2 || bundle.head_weight.size(0) != classes ||
      bundle.head_bias.dim() != 1 || bundle.head_bias.size(0) != classes) {
    throw Error(file.name + ": the head does not match the bundle's " + std::to_string(classes) +
                " classes");
  }
  return bundle;
}

void check_backbone(const Bundle& bundle, const model::Backbone& backbone,
                    const std::string& bundle_path) {
  if (bundle.fingerprint() == backbone.fingerprint) return;
  throw Error(bundle_path + ": the adapter was trained on backbone " + bundle.fingerprint() +
              ", but " + backbone.source + " is " + backbone.fingerprint +
              "; use the checkpoint it was trained on");
}

std::unique_ptr<Method> rebuild_method(const Bundle& bundle, const std::string& bundle_path,
                                       model::Backbone& backbone) {
  check_backbone(bundle, backbone, bundle_path);
  // A bundle's configuration is data: a bad value is the file's fault
  // (exit 1, the file and the key), not a usage error on this command line.
  std::unique_ptr<Method> method;
  try {
    method = create_method(bundle.method, bundle.config);
  } catch (const SettingError& e) {
    throw Error(bundle_path + ": config key '" + e.key + "' " + e.problem);
  } catch (const UsageError& e) {
    throw Error(bundle_path + ": " + e.what());
  }
  // Initial values are overwritten by the bundle; the generator only has to exist.
  torch::Generator generator = at::detail::createCPUGenerator(0);
  try {
    method->restore_structure(bundle.structure);
    method->attach(backbone.vit, generator);
    method->load(bundle.tensors);
  } catch (const SettingError& e) {
    throw Error(bundle_path + ": config key '" + e.key + "' " + e.problem);
  } catch (const Error& e) {
    throw Error(bundle_path + ": " + e.what());
  }
  method->set_training(false);
  return method;
}

}  // namespace vpet::peft
