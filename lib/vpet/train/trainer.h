// The training loop: a frozen backbone (eval mode, no gradients), one
// method's trainable tensors and a new head, trained on the examples for a
// number of epochs (DESIGN §7).
//
// Each epoch visits every example once, in an order drawn from the seed and
// the epoch number alone, so a resumed run visits them in the same order.
// The last batch of an epoch may be smaller (no image is left out; a ViT has
// no batch statistics). Drop-path and the method's dropout draw from the
// default generators, seeded by the caller (torch::manual_seed) and saved in
// checkpoints.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "vpet/model/precision.h"
#include "vpet/model/vit.h"
#include "vpet/peft/method.h"
#include "vpet/train/checkpoint.h"
#include "vpet/train/examples.h"
#include "vpet/train/mixup.h"
#include "vpet/train/optimizer.h"
#include "vpet/train/schedule.h"

namespace vpet::train {

// What a step whose loss or gradient is NaN or infinite does (--nan).
enum class NanPolicy { Stop, SkipStep };
NanPolicy parse_nan_policy(const std::string& name);  // throws UsageError naming --nan
const char* nan_policy_name(NanPolicy policy);

// Which epoch's weights the run ends with (--keep): the last; the one with
// the best validation top-1 (the first of equals); or the one with the best
// top-1 on a test set, the protocol some papers report, which selects on
// the data it reports and so overstates the accuracy.
enum class Keep { Last, BestVal, BestTest };
Keep parse_keep(const std::string& name);  // throws UsageError naming --keep
const char* keep_name(Keep keep);

struct TrainOptions {
  std::int64_t epochs = 10;
  std::int64_t batch = 32;
  double lr = 1e-3;
  ParamGroupOptions groups;
  OptimizerOptions optimizer;
  double warmup = 0.0;  // epochs
  ScheduleKind schedule = ScheduleKind::Cosine;
  std::optional<double> warmup_lr;  // the warmup's first rate (schedule.h)
  double min_lr = 0.0;
  bool schedule_per_epoch = false;
  std::int64_t schedule_lag = 0;
  double label_smoothing = 0.0;
  MixupOptions mixup;      // batch MixUp/CutMix of training images (mixup.h)
  double drop_path = 0.0;  // backbone stochastic depth while training (timm's linear rule)
  double grad_clip = 0.0;  // max global L2 norm of the gradients; 0: off
  NanPolicy nan = NanPolicy::Stop;
  std::uint64_t seed = 0;
  std::int64_t eval_every = 0;  // epochs; 0: evaluate after the last epoch only
  Keep keep = Keep::Last;
  torch::Device device = torch::kCPU;
  model::Precision precision = model::Precision::Fp32;  // of the forward passes

  // Throws vpet::UsageError naming the option for a value out of range.
  void validate() const;
  // The settings as recorded in checkpoints and the bundle's summary.
  nlohmann::json to_json() const;
  ScheduleSettings schedule_settings() const;
};

struct StepReport {
  std::int64_t epoch;  // 1-based
  std::int64_t epochs;
  std::int64_t step;  // 1-based over the run
  std::int64_t steps;
  std::int64_t images;  // in this step's batch
  double loss, lr, images_per_second;
  nlohmann::json method;  // the method's diagnostics() for this step
  bool skipped = false;   // a non-finite loss or gradient, skipped (--nan skip-step)
};

struct EvalReport {
  std::int64_t epoch, step;
  double top1;              // validation, percent; negative: no validation set
  double test_top1 = -1.0;  // the test set's (--keep best-test), or negative
};

// What the loop reports to, and asks, its caller. Every member may be empty.
struct TrainCallbacks {
  std::function<void(const StepReport&)> on_step;
  std::function<void(const EvalReport&)> on_eval;
  // After each epoch (1-based) with its mean training loss.
  std::function<void(std::int64_t epoch, double loss)> on_epoch;
  // Asked after every step; true ends the run after saving a checkpoint. A
  // stop after an epoch's last step ends the run after that epoch's
  // evaluation and checkpoint (none after the last epoch: the run finishes).
  std::function<bool()> stop_requested;
  // Called after every epoch and when stopping.
  std::function<void(const Checkpoint&)> save_checkpoint;
};

class Trainer {
 public:
  // `vit` must be frozen and in eval mode except for the tensors the method
  // trains, and `method` attached to it (or empty when `train` and `val`
  // are features); `head` on options.device. `run`
  // identifies what is trained (method, configuration, backbone, data): it
  // joins the settings a checkpoint must match. `test` is evaluated beside
  // `val` for Keep::BestTest only. Throws vpet::Error when a backbone tensor
  // the method does not train requires a gradient, vpet::UsageError when
  // options.keep lacks its evaluation set.
  Trainer(model::VisionTransformer vit, peft::Method& method, torch::nn::Linear head,
          Examples train, std::optional<Examples> val, TrainOptions options,
          nlohmann::json run = nlohmann::json::object(), std::optional<Examples> test = {});

  // Continues from a checkpoint of a run with the same settings; throws
  // vpet::UsageError listing the settings that differ, and vpet::Error
  // naming the checkpoint for a position, tensor or state this run cannot
  // take.
  void resume(const Checkpoint& checkpoint);

  enum class Outcome { Finished, Stopped };
  // Throws vpet::Error naming the epoch, the step and what (the loss or a
  // gradient) when a step's loss or gradient is not finite and options.nan
  // is Stop; with SkipStep such a step leaves the weights as they were and
  // is counted (summary()'s skipped_steps). When it finishes under
  // Keep::BestVal or BestTest, the trained tensors are the kept epoch's.
  Outcome run(const TrainCallbacks& callbacks = {});

  // Top-1 accuracy (percent) of the current weights on `examples`.
  double evaluate(const Examples& examples);

  // A snapshot (copies) of everything --resume needs.
  Checkpoint checkpoint() const;
  // Epochs, steps, final train loss, best and final validation top-1, the
  // kept epoch ("kept": rule, epoch, top-1), parameter counts and the
  // settings: the same for the same run, so it goes into the bundle
  // (identical runs write identical bytes).
  nlohmann::json summary() const;
  // What differs between identical runs: seconds, images per second, peak
  // RSS and device memory. For the log and --metrics, never the bundle.
  nlohmann::json measurements() const;
  const nlohmann::json& settings() const { return settings_; }

 private:
  // resume()'s work once the settings match.
  void restore(const Checkpoint& checkpoint);
  torch::Tensor features(const torch::Tensor& inputs, bool training);
  struct StepResult {
    double loss;
    std::string non_finite;  // what was not finite (the step was not taken), or empty
  };
  // One optimisation step on `batch` (the current step of the current
  // epoch: its MixUp/CutMix draw), taken only when its loss and every
  // gradient are finite.
  StepResult step(const Examples::Batch& batch, double lr);
  // Rows of the given step of an epoch visiting examples in `order`.
  std::vector<std::int64_t> step_rows(const std::vector<std::int64_t>& order,
                                      std::int64_t step) const;
  std::vector<std::int64_t> epoch_order(std::int64_t epoch) const;
  // The evaluations due after an epoch, and the kept snapshot they choose.
  void evaluate_epoch(const TrainCallbacks& callbacks);
  peft::NamedTensors snapshot() const;
  void restore(const peft::NamedTensors& snapshot);

  model::VisionTransformer vit_;
  peft::Method& method_;
  torch::nn::Linear head_;
  Examples train_;
  std::optional<Examples> val_, test_;
  TrainOptions options_;
  nlohmann::json settings_;
  Optimizer optimizer_;
  std::int64_t steps_per_epoch_;
  Schedule schedule_;

  // Position and running summary; all of it goes into checkpoints.
  std::int64_t epoch_ = 0, step_in_epoch_ = 0, global_step_ = 0;
  double epoch_loss_sum_ = 0.0;  // Σ loss·batch of the current epoch
  std::int64_t epoch_images_ = 0;
  double last_epoch_loss_ = std::nan("");
  double best_top1_ = -1.0, final_top1_ = -1.0;
  std::int64_t best_epoch_ = 0;
  double best_test_top1_ = -1.0, final_test_top1_ = -1.0;
  std::int64_t best_test_epoch_ = 0;
  peft::NamedTensors kept_;  // the kept epoch's snapshot (Keep::BestVal, BestTest)
  std::int64_t kept_epoch_ = 0;
  double seconds_ = 0.0;  // training time (steps only), over every session
  std::int64_t images_ = 0;
  std::int64_t skipped_steps_ = 0;  // --nan skip-step
};

}  // namespace vpet::train
