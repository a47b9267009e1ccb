// Training checkpoints: everything --resume needs to continue a run to
// bit-identical final weights — the trained tensors (method's and head), the
// optimiser state, the random generators, and the position in the schedule
// — plus the settings the run was started with, so that resuming with other
// settings is refused rather than silently producing another run.
//
// A checkpoint is a vpet file (vpet-format(5)) of kind "checkpoint": header
// {settings, epoch, step_in_epoch, global_step, progress}, then one record
// with tensors "param:<name>", "optimizer:<name>.<state>", "structure:<name>"
// (the method's structure(): PGN's BatchNorm statistics change while
// training), "rng:<device>" and, under --keep best-val or best-test, the
// best epoch's "kept:param:<name>" and "kept:structure:<name>".
// Python reads it with msgpack_numpy like every other vpet file.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "vpet/peft/method.h"

namespace vpet::train {

struct Checkpoint {
  std::string source;  // the file it was read from, for messages ("" when made here)
  nlohmann::json settings = nlohmann::json::object();  // must equal the resuming run's
  std::int64_t epoch = 0;                              // epochs completed
  std::int64_t step_in_epoch = 0;  // steps of epoch `epoch` completed (interrupted mid-epoch)
  std::int64_t global_step = 0;
  nlohmann::json progress = nlohmann::json::object();  // the running summary
  peft::NamedTensors params;                           // the trained tensors, by name
  peft::NamedTensors optimizer;                        // Optimizer::state()
  peft::NamedTensors structure;                        // the method's structure()
  peft::NamedTensors rng;                              // capture_rng()
  // The kept epoch's snapshot (--keep best-val, best-test): "param:<name>"
  // and "structure:<name>"; empty when the last epoch is kept.
  peft::NamedTensors kept;
};

// Written atomically: an interrupted save leaves the previous checkpoint.
// The one it replaces stays as PATH.prev (a hard link), so that a
// checkpoint damaged later (cut short by a copy) has a fallback.
void write_checkpoint(const std::string& path, const Checkpoint& checkpoint,
                      const std::string& program, const std::vector<std::string>& args);
// Throws vpet::Error naming the file for anything that is not a checkpoint,
// and PATH.prev where there is one.
Checkpoint read_checkpoint(const std::string& path);

// The default generators' states: "cpu", and the device's when it is not
// the CPU (drop-path and dropout draw from them). restore_rng throws
// vpet::Error for a missing state or one the generator cannot take (a
// damaged or foreign checkpoint).
peft::NamedTensors capture_rng(const torch::Device& device);
void restore_rng(const peft::NamedTensors& states, const torch::Device& device);

}  // namespace vpet::train
