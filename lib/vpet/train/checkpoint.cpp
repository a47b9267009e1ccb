#include "vpet/train/checkpoint.h"

#include <ATen/Context.h>

#include <sys/stat.h>

#include "vpet/error.h"
#include "vpet/io/atomic_file.h"
#include "vpet/io/stream.h"
#include "vpet/strings.h"

namespace vpet::train {
namespace {

constexpr const char* kParam = "param:";
constexpr const char* kOptimizer = "optimizer:";
constexpr const char* kRng = "rng:";
constexpr const char* kStructure = "structure:";
constexpr const char* kKept = "kept:";
// The checkpoint before the last one is kept beside it under this suffix.
constexpr const char* kPreviousSuffix = ".prev";

void add_prefixed(io::Record& record, const char* prefix, const peft::NamedTensors& tensors) {
  for (const auto& [name, tensor] : tensors) record.tensors.emplace_back(prefix + name, tensor);
}

std::string device_key(const torch::Device& device) {
  return device.is_cpu() ? "cpu" : "cuda";
}

Checkpoint parse_checkpoint(const std::string& path) {
  io::OneShot file = io::read_one_shot(path, "checkpoint");
  const nlohmann::json& header = file.header;
  Checkpoint checkpoint;
  checkpoint.source = file.name;
  try {
    checkpoint.settings = header.at("settings");
    checkpoint.epoch = header.at("epoch").get<std::int64_t>();
    checkpoint.step_in_epoch = header.at("step_in_epoch").get<std::int64_t>();
    checkpoint.global_step = header.at("global_step").get<std::int64_t>();
    checkpoint.progress = header.at("progress");
  } catch (const nlohmann::json::exception& e) {
    throw Error(file.name + ": malformed checkpoint header: " + e.what());
  }
  const io::Record& record = file.record;
  for (auto& [name, tensor] : record.tensors) {
    if (starts_with(name, kParam)) {
      checkpoint.params.emplace_back(name.substr(std::string(kParam).size()), tensor);
    } else if (starts_with(name, kOptimizer)) {
      checkpoint.optimizer.emplace_back(name.substr(std::string(kOptimizer).size()), tensor);
    } else if (starts_with(name, kStructure)) {
      checkpoint.structure.emplace_back(name.substr(std::string(kStructure).size()), tensor);
    } else if (starts_with(name, kRng)) {
      checkpoint.rng.emplace_back(name.substr(std::string(kRng).size()), tensor);
    } else if (starts_with(name, kKept)) {
      checkpoint.kept.emplace_back(name.substr(std::string(kKept).size()), tensor);
    } else {
      throw Error(file.name + ": unexpected tensor '" + name + "' in a checkpoint");
    }
  }
  return checkpoint;
}

}  // namespace

void write_checkpoint(const std::string& path, const Checkpoint& checkpoint,
                      const std::string& program, const std::vector<std::string>& args) {
  nlohmann::json header = io::make_header("checkpoint", program, args);
  header["settings"] = checkpoint.settings;
  header["epoch"] = checkpoint.epoch;
  header["step_in_epoch"] = checkpoint.step_in_epoch;
  header["global_step"] = checkpoint.global_step;
  header["progress"] = checkpoint.progress;
  io::Record record;
  add_prefixed(record, kParam, checkpoint.params);
  add_prefixed(record, kOptimizer, checkpoint.optimizer);
  add_prefixed(record, kStructure, checkpoint.structure);
  add_prefixed(record, kRng, checkpoint.rng);
  add_prefixed(record, kKept, checkpoint.kept);
  io::AtomicOutput output(path);
  output.keep_previous(kPreviousSuffix);
  io::write_one_shot(output, header, record);
  output.commit();
}

Checkpoint read_checkpoint(const std::string& path) {
  try {
    return parse_checkpoint(path);
  } catch (const Error& e) {
    // A damaged checkpoint (cut short by a copy, a failing disk): name the
    // one before it, which write_checkpoint kept.
    const std::string previous = path + kPreviousSuffix;
    struct stat st {};
    if (path == "-" || stat(previous.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) throw;
    throw Error(std::string(e.what()) + "; the checkpoint before it is " + previous +
                " (--resume " + previous + ")");
  }
}

peft::NamedTensors capture_rng(const torch::Device& device) {
  peft::NamedTensors states;
  states.emplace_back("cpu", at::detail::getDefaultCPUGenerator().get_state());
  if (!device.is_cpu()) {
    states.emplace_back(device_key(device),
                        at::globalContext().defaultGenerator(device).get_state());
  }
  return states;
}

void restore_rng(const peft::NamedTensors& states, const torch::Device& device) {
  auto restore = [&](const std::string& key, at::Generator generator) {
    for (const auto& [name, state] : states) {
      if (name != key) continue;
      // A generator's state is its own byte layout (mt19937's words for the
      // CPU); LibTorch checks the size and says only what it expected.
      if (state.scalar_type() != torch::kUInt8) {
        throw Error("the checkpoint's " + key + " random generator state is " +
                    std::string(c10::toString(state.scalar_type())) + ", not bytes");
      }
      try {
        generator.set_state(state.contiguous());
      } catch (const c10::Error&) {
        throw Error("the checkpoint's " + key + " random generator state (" +
                    std::to_string(state.numel()) +
                    " bytes) is not one this LibTorch's generator takes");
      }
      return;
    }
    throw Error("the checkpoint lacks the " + key + " random generator state");
  };
  restore("cpu", at::detail::getDefaultCPUGenerator());
  if (!device.is_cpu()) restore(device_key(device), at::globalContext().defaultGenerator(device));
}

}  // namespace vpet::train
