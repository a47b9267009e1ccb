#include "vpet/train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>

#include "vpet/data/sampling.h"
#include "vpet/error.h"
#include "vpet/eval/resources.h"
#include "vpet/io/fault_point.h"
#include "vpet/train/loss.h"

namespace vpet::train {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// SplitMix64's finaliser: decorrelates (seed, epoch) pairs that differ in one bit.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

bool stop_requested(const TrainCallbacks& callbacks) {
  return callbacks.stop_requested && callbacks.stop_requested();
}

// nan/negative mean "not measured": JSON null.
nlohmann::json measured(double value) {
  return std::isfinite(value) && value >= 0.0 ? nlohmann::json(value) : nlohmann::json(nullptr);
}

void check_frozen(model::VisionTransformer& vit, const peft::Method& method) {
  std::set<const void*> trained;
  for (const auto& [name, tensor] : method.trainable())
    trained.insert(tensor.unsafeGetTensorImpl());
  for (const auto& item : vit->named_parameters()) {
    if (item.value().requires_grad() && !trained.count(item.value().unsafeGetTensorImpl())) {
      throw Error("backbone tensor '" + item.key() + "' requires a gradient but " + method.name() +
                  " does not train it");
    }
  }
  if (vit->is_training()) throw Error("the backbone must be in eval mode");
}

// torch.nn.utils.clip_grad_norm_ without reading the norm on the host: the
// scale min(1, max_norm / (‖g‖ + 1e-6)) stays a device scalar.
void clip_grad_norm(const std::vector<ParamEntry>& params, double max_norm) {
  std::vector<torch::Tensor> norms;
  for (const ParamEntry& param : params) {
    if (param.tensor.grad().defined()) norms.push_back(param.tensor.grad().detach().norm());
  }
  if (norms.empty()) return;
  const torch::Tensor scale = (max_norm / (torch::stack(norms).norm() + 1e-6)).clamp_max(1.0);
  for (const ParamEntry& param : params) {
    if (param.tensor.grad().defined()) param.tensor.grad().detach().mul_(scale);
  }
}

// What in a step is NaN or infinite: the loss, or the first trained tensor
// whose gradient is; empty when everything is finite. One host read when it is.
std::string non_finite(double value, const std::vector<ParamEntry>& params) {
  if (!std::isfinite(value))
    return std::string("the loss is ") + (std::isnan(value) ? "NaN" : "infinite");
  std::vector<torch::Tensor> finite;
  for (const ParamEntry& param : params) {
    if (param.tensor.grad().defined()) finite.push_back(param.tensor.grad().isfinite().all());
  }
  if (finite.empty() || torch::stack(finite).all().item<bool>()) return "";
  for (const ParamEntry& param : params) {
    const torch::Tensor& grad = param.tensor.grad();
    if (grad.defined() && !grad.isfinite().all().item<bool>()) {
      return "the gradient of '" + param.name + "' holds " +
             (grad.isnan().any().item<bool>() ? "NaN" : "infinite values");
    }
  }
  return "";
}

}  // namespace

NanPolicy parse_nan_policy(const std::string& name) {
  if (name == "stop") return NanPolicy::Stop;
  if (name == "skip-step") return NanPolicy::SkipStep;
  throw UsageError("--nan: '" + name + "' is not one of stop, skip-step");
}

const char* nan_policy_name(NanPolicy policy) {
  return policy == NanPolicy::Stop ? "stop" : "skip-step";
}

Keep parse_keep(const std::string& name) {
  for (const Keep keep : {Keep::Last, Keep::BestVal, Keep::BestTest}) {
    if (name == keep_name(keep)) return keep;
  }
  throw UsageError("--keep: '" + name + "' is not one of last, best-val, best-test");
}

const char* keep_name(Keep keep) {
  switch (keep) {
    case Keep::Last:
      return "last";
    case Keep::BestVal:
      return "best-val";
    case Keep::BestTest:
      return "best-test";
  }
  return "?";
}

void TrainOptions::validate() const {
  auto require = [](bool ok, const std::string& message) {
    if (!ok) throw UsageError(message);
  };
  require(epochs >= 1, "--epochs must be at least 1");
  require(batch >= 1, "--batch must be at least 1");
  require(lr > 0.0 && std::isfinite(lr), "--lr must be positive");
  require(groups.weight_decay >= 0.0, "--wd must not be negative");
  require(groups.head_weight_decay >= 0.0, "--wd-head must not be negative");
  require(groups.lora_b_lr_ratio > 0.0 && std::isfinite(groups.lora_b_lr_ratio),
          "--lr-ratio-b must be positive");
  require(optimizer.momentum >= 0.0 && optimizer.momentum < 1.0, "--momentum must be in [0, 1)");
  require(label_smoothing >= 0.0 && label_smoothing < 1.0, "--label-smoothing must be in [0, 1)");
  mixup.validate();
  require(drop_path >= 0.0 && drop_path < 1.0, "--drop-path must be in [0, 1)");
  require(grad_clip >= 0.0, "--grad-clip must not be negative");
  require(eval_every >= 0, "--eval-every must not be negative");
  require(warmup >= 0.0 && warmup <= double(epochs), "--warmup must be between 0 and --epochs");
}

nlohmann::json TrainOptions::to_json() const {
  return {{"epochs", epochs},
          {"batch", batch},
          {"lr", lr},
          {"wd", groups.weight_decay},
          {"wd_head", groups.head_weight_decay},
          {"wd_prompts", groups.prompts},
          {"lr_ratio_b", groups.lora_b_lr_ratio},
          {"optimizer", optimizer_name(optimizer.kind)},
          {"momentum", optimizer.momentum},
          {"warmup", warmup},
          {"warmup_lr", warmup_lr ? nlohmann::json(*warmup_lr) : nlohmann::json()},
          {"schedule", schedule_name(schedule)},
          {"schedule_unit", schedule_per_epoch ? "epoch" : "iteration"},
          {"schedule_lag", schedule_lag},
          {"min_lr", min_lr},
          {"label_smoothing", label_smoothing},
          {"mixup", mixup.to_json()},
          {"drop_path", drop_path},
          {"grad_clip", grad_clip},
          {"nan", nan_policy_name(nan)},
          {"seed", seed},
          {"eval_every", eval_every},
          {"keep", keep_name(keep)},
          {"device", device.str()},
          {"precision", model::precision_name(precision)}};
}

ScheduleSettings TrainOptions::schedule_settings() const {
  ScheduleSettings settings;
  settings.kind = schedule;
  settings.base_lr = lr;
  settings.warmup_epochs = warmup;
  settings.warmup_lr = warmup_lr;
  settings.min_lr = min_lr;
  settings.per_epoch = schedule_per_epoch;
  settings.lag = schedule_lag;
  return settings;
}

Trainer::Trainer(model::VisionTransformer vit, peft::Method& method, torch::nn::Linear head,
                 Examples train, std::optional<Examples> val, TrainOptions options,
                 nlohmann::json run, std::optional<Examples> test)
    : vit_(std::move(vit)),
      method_(method),
      head_(std::move(head)),
      train_(std::move(train)),
      val_(std::move(val)),
      test_(std::move(test)),
      // Checked before the members below divide by the batch size.
      options_((options.validate(), std::move(options))),
      settings_(options_.to_json()),
      optimizer_(param_entries(method_, head_, options_.groups), options_.optimizer),
      steps_per_epoch_((train_.size() + options_.batch - 1) / options_.batch),
      schedule_(options_.schedule_settings(), options_.epochs, steps_per_epoch_) {
  if (train_.size() == 0) throw Error("no training examples");
  if (options_.groups.lora_b_lr_ratio != 1.0 &&
      std::none_of(optimizer_.params().begin(), optimizer_.params().end(),
                   [](const ParamEntry& p) { return p.lr_scale != 1.0; })) {
    throw UsageError(
        "--lr-ratio-b (LoRA+) scales the rate of LoRA B factors (lora, dora, spt-lora); " +
        method_.name() + " has none");
  }
  if (options_.keep == Keep::BestVal && !val_) throw UsageError("--keep best-val needs --val");
  if (options_.keep == Keep::BestTest && !test_) throw UsageError("--keep best-test needs --test");
  if (test_ && options_.keep != Keep::BestTest) {
    throw UsageError("a test set is evaluated during training for --keep best-test only");
  }
  settings_["run"] = std::move(run);
  if (options_.mixup.active() && train_.are_features()) {
    throw UsageError("MixUp and CutMix mix images: they need -m and -d, not features");
  }
  if (vit_.is_empty()) {
    if (!train_.are_features()) throw Error("images to train on, but no backbone");
  } else {
    check_frozen(vit_, method_);
  }
}

namespace {

// "key: VALUE in the checkpoint, VALUE now" for every leaf where two
// settings objects differ (nested keys joined with dots).
void list_differences(const nlohmann::json& was, const nlohmann::json& now, const std::string& path,
                      std::vector<std::string>& out) {
  if (was.is_object() && now.is_object()) {
    std::set<std::string> keys;
    for (auto it = was.begin(); it != was.end(); ++it) keys.insert(it.key());
    for (auto it = now.begin(); it != now.end(); ++it) keys.insert(it.key());
    for (const std::string& key : keys) {
      const nlohmann::json none;
      list_differences(was.contains(key) ? was[key] : none, now.contains(key) ? now[key] : none,
                       path.empty() ? key : path + "." + key, out);
    }
    return;
  }
  if (was == now) return;
  const auto shown = [](const nlohmann::json& v) {
    const std::string text = v.is_null() ? std::string("none") : v.dump();
    return text.size() > 80 ? text.substr(0, 77) + "..." : text;
  };
  out.push_back(path + ": " + shown(was) + " in the checkpoint, " + shown(now) + " now");
}

}  // namespace

void Trainer::resume(const Checkpoint& checkpoint) {
  if (checkpoint.settings != settings_) {
    std::vector<std::string> differences;
    list_differences(checkpoint.settings, settings_, "", differences);
    std::string listed;
    for (std::size_t i = 0; i < differences.size() && i < 5; ++i) {
      listed += (i ? "; " : "") + differences[i];
    }
    if (differences.size() > 5) listed += "; " + std::to_string(differences.size() - 5) + " more";
    throw UsageError("--resume: the checkpoint is of a run with other settings (" + listed +
                     "); resume with the command line that started it");
  }
  try {
    restore(checkpoint);
  } catch (const nlohmann::json::exception& e) {
    throw Error(checkpoint.source + ": malformed checkpoint progress: " + e.what());
  } catch (const Error& e) {
    throw Error(checkpoint.source + ": " + e.what());
  }
}

void Trainer::restore(const Checkpoint& checkpoint) {
  // The same settings give the same steps per epoch, so the position must
  // be one this run passes through (a damaged header would otherwise run
  // "step 21/9" or repeat epochs).
  const bool at_end = checkpoint.epoch == options_.epochs && checkpoint.step_in_epoch == 0;
  if (checkpoint.epoch < 0 || checkpoint.step_in_epoch < 0 ||
      (checkpoint.epoch >= options_.epochs && !at_end) ||
      checkpoint.step_in_epoch >= steps_per_epoch_ ||
      checkpoint.global_step != checkpoint.epoch * steps_per_epoch_ + checkpoint.step_in_epoch) {
    throw Error("epoch " + std::to_string(checkpoint.epoch) + ", step " +
                std::to_string(checkpoint.step_in_epoch) + " of the epoch and step " +
                std::to_string(checkpoint.global_step) + " overall is no point of this run (" +
                std::to_string(options_.epochs) + " epochs of " + std::to_string(steps_per_epoch_) +
                " steps)");
  }
  {
    torch::NoGradGuard no_grad;
    for (const ParamEntry& param : optimizer_.params()) {
      const torch::Tensor* stored = nullptr;
      for (const auto& [name, tensor] : checkpoint.params) {
        if (name == param.name) stored = &tensor;
      }
      if (!stored || stored->sizes() != param.tensor.sizes()) {
        throw Error("the checkpoint lacks (or mis-shapes) the tensor '" + param.name + "'");
      }
      torch::Tensor target = param.tensor;
      target.copy_(*stored);
    }
  }
  optimizer_.load_state(checkpoint.optimizer);
  {
    // Structure that changes while training (PGN's BatchNorm statistics):
    // structure() returns the live tensors, so copying into them restores it.
    torch::NoGradGuard no_grad;
    for (const auto& [name, live] : method_.structure()) {
      const torch::Tensor* stored = nullptr;
      for (const auto& [stored_name, tensor] : checkpoint.structure) {
        if (stored_name == name) stored = &tensor;
      }
      if (!stored || stored->sizes() != live.sizes()) {
        throw Error("the checkpoint lacks (or mis-shapes) the structure tensor '" + name + "'");
      }
      torch::Tensor target = live;
      target.copy_(*stored);
    }
  }
  restore_rng(checkpoint.rng, options_.device);
  epoch_ = checkpoint.epoch;
  step_in_epoch_ = checkpoint.step_in_epoch;
  global_step_ = checkpoint.global_step;
  const nlohmann::json& p = checkpoint.progress;
  epoch_loss_sum_ = p.at("epoch_loss_sum").get<double>();
  epoch_images_ = p.at("epoch_images").get<std::int64_t>();
  last_epoch_loss_ =
      p.at("last_epoch_loss").is_null() ? std::nan("") : p.at("last_epoch_loss").get<double>();
  best_top1_ = p.at("best_top1").is_null() ? -1.0 : p.at("best_top1").get<double>();
  final_top1_ = p.at("final_top1").is_null() ? -1.0 : p.at("final_top1").get<double>();
  best_epoch_ = p.at("best_epoch").get<std::int64_t>();
  seconds_ = p.at("seconds").get<double>();
  images_ = p.at("images").get<std::int64_t>();
  skipped_steps_ = p.value("skipped_steps", std::int64_t(0));
  const nlohmann::json none;
  const nlohmann::json& best_test = p.contains("best_test_top1") ? p["best_test_top1"] : none;
  best_test_top1_ = best_test.is_null() ? -1.0 : best_test.get<double>();
  const nlohmann::json& final_test = p.contains("final_test_top1") ? p["final_test_top1"] : none;
  final_test_top1_ = final_test.is_null() ? -1.0 : final_test.get<double>();
  best_test_epoch_ = p.value("best_test_epoch", std::int64_t(0));
  kept_epoch_ = p.value("kept_epoch", std::int64_t(0));
  kept_ = checkpoint.kept;
  // The settings (keep included) matched: a best epoch already chosen has
  // its snapshot, and restore() checks it holds every tensor.
  if (kept_epoch_ > 0 && options_.keep != Keep::Last && kept_.empty()) {
    throw Error("the checkpoint lacks the kept epoch's tensors");
  }
}

Checkpoint Trainer::checkpoint() const {
  Checkpoint checkpoint;
  checkpoint.settings = settings_;
  checkpoint.epoch = epoch_;
  checkpoint.step_in_epoch = step_in_epoch_;
  checkpoint.global_step = global_step_;
  checkpoint.progress = {{"epoch_loss_sum", epoch_loss_sum_},
                         {"epoch_images", epoch_images_},
                         {"last_epoch_loss", measured(last_epoch_loss_)},
                         {"best_top1", measured(best_top1_)},
                         {"final_top1", measured(final_top1_)},
                         {"best_epoch", best_epoch_},
                         {"seconds", seconds_},
                         {"images", images_},
                         {"skipped_steps", skipped_steps_},
                         {"best_test_top1", measured(best_test_top1_)},
                         {"final_test_top1", measured(final_test_top1_)},
                         {"best_test_epoch", best_test_epoch_},
                         {"kept_epoch", kept_epoch_}};
  for (const ParamEntry& param : optimizer_.params()) {
    checkpoint.params.emplace_back(param.name, param.tensor.detach().clone());
  }
  checkpoint.optimizer = optimizer_.state();
  for (const auto& [name, tensor] : method_.structure()) {
    checkpoint.structure.emplace_back(name, tensor.detach().clone());
  }
  checkpoint.rng = capture_rng(options_.device);
  checkpoint.kept = kept_;
  return checkpoint;
}

peft::NamedTensors Trainer::snapshot() const {
  peft::NamedTensors out;
  for (const ParamEntry& param : optimizer_.params()) {
    out.emplace_back("param:" + param.name, param.tensor.detach().clone());
  }
  for (const auto& [name, tensor] : method_.structure()) {
    out.emplace_back("structure:" + name, tensor.detach().clone());
  }
  return out;
}

void Trainer::restore(const peft::NamedTensors& snapshot) {
  torch::NoGradGuard no_grad;
  auto copy_into = [&](const std::string& key, torch::Tensor live) {
    for (const auto& [name, stored] : snapshot) {
      if (name == key && stored.sizes() == live.sizes()) {
        live.copy_(stored);
        return;
      }
    }
    throw Error("the kept epoch's snapshot lacks (or mis-shapes) '" + key + "'");
  };
  for (const ParamEntry& param : optimizer_.params())
    copy_into("param:" + param.name, param.tensor);
  for (const auto& [name, tensor] : method_.structure()) copy_into("structure:" + name, tensor);
}

void Trainer::evaluate_epoch(const TrainCallbacks& callbacks) {
  const bool due = options_.eval_every > 0 && epoch_ % options_.eval_every == 0;
  if ((!val_ && !test_) || !(due || epoch_ == options_.epochs)) return;
  const auto eval_start = Clock::now();
  // The top-1 on one set, and whether it beats that set's best so far.
  const auto improves = [this](const Examples& examples, double& last, double& best,
                               std::int64_t& best_epoch) {
    last = evaluate(examples);
    if (!(last > best)) return false;
    best = last;
    best_epoch = epoch_;
    return true;
  };
  const bool val_better = val_ && improves(*val_, final_top1_, best_top1_, best_epoch_);
  const bool test_better =
      test_ && improves(*test_, final_test_top1_, best_test_top1_, best_test_epoch_);
  if ((val_better && options_.keep == Keep::BestVal) ||
      (test_better && options_.keep == Keep::BestTest)) {
    kept_ = snapshot();
    kept_epoch_ = epoch_;
  }
  seconds_ += seconds_since(eval_start);
  if (callbacks.on_eval) {
    callbacks.on_eval(
        {epoch_, global_step_, val_ ? final_top1_ : -1.0, test_ ? final_test_top1_ : -1.0});
  }
}

std::vector<std::int64_t> Trainer::epoch_order(std::int64_t epoch) const {
  const std::int64_t n = train_.size();
  std::vector<std::int64_t> order(std::size_t(n), 0);
  for (std::int64_t i = 0; i < n; ++i) order[std::size_t(i)] = i;
  data::SeededRandom random(mix(options_.seed ^ mix(std::uint64_t(epoch))));
  // Fisher–Yates with our own uniform draw: the same order on every platform.
  for (std::int64_t i = n - 1; i > 0; --i) {
    std::swap(order[std::size_t(i)], order[std::size_t(random.below(std::uint64_t(i + 1)))]);
  }
  return order;
}

torch::Tensor Trainer::features(const torch::Tensor& inputs, bool training) {
  // Cached features are the frozen backbone's: the method acts on them only
  // at the pooled feature (linear probing: not at all; LION's output layer).
  if (train_.are_features()) return method_.pooled(inputs);
  return vit_->features(inputs, method_, {options_.drop_path, training});
}

std::vector<std::int64_t> Trainer::step_rows(const std::vector<std::int64_t>& order,
                                             std::int64_t step) const {
  const std::int64_t first = step * options_.batch;
  const std::int64_t last = std::min(std::int64_t(order.size()), first + options_.batch);
  return {order.begin() + first, order.begin() + last};
}

Trainer::StepResult Trainer::step(const Examples::Batch& batch, double lr) {
  optimizer_.zero_grad();
  std::optional<MixedBatch> mixed;
  if (options_.mixup.active()) {
    const MixupDraw draw =
        draw_mixup(options_.mixup, int(batch.inputs.size(2)), int(batch.inputs.size(3)),
                   options_.seed, epoch_, step_in_epoch_);
    mixed = mix_batch(batch.inputs, batch.labels, draw, head_->weight.size(0),
                      options_.label_smoothing);
  }
  torch::Tensor logits;
  {
    const model::AutocastScope autocast(options_.precision, options_.device);
    logits = head_->forward(features(mixed ? mixed->inputs : batch.inputs, true));
  }
  // The loss in fp32 whatever the forward's precision (torch.autocast does
  // the same: cross-entropy is on its fp32 list).
  const torch::Tensor loss =
      mixed ? soft_target_cross_entropy(logits.to(torch::kFloat32), mixed->targets)
            : cross_entropy(logits.to(torch::kFloat32), batch.labels, options_.label_smoothing);
  loss.backward();
  method_.before_step();
  const double value = loss.item<double>();
  StepResult result{value, non_finite(value, optimizer_.params())};
  if (!result.non_finite.empty()) return result;
  if (options_.grad_clip > 0.0) clip_grad_norm(optimizer_.params(), options_.grad_clip);
  optimizer_.step(lr);
  return result;
}

Trainer::Outcome Trainer::run(const TrainCallbacks& callbacks) {
  method_.set_training(true);
  const std::int64_t steps = options_.epochs * steps_per_epoch_;

  // The host prepares the next batch (of this epoch or the next) and queues
  // its copy while the device runs the current step, and only then waits for
  // the step's loss: the device never idles while the host gathers pixels.
  std::vector<std::int64_t> order = epoch_order(epoch_), next_order;
  // The batch of this epoch's step `index`, or past its last step the next
  // epoch's first (nothing after the last epoch).
  auto prefetch = [&](std::int64_t index) {
    if (index < steps_per_epoch_) {
      return train_.batch(step_rows(order, index), options_.device, epoch_);
    }
    if (epoch_ + 1 >= options_.epochs) return Examples::Batch{};
    next_order = epoch_order(epoch_ + 1);
    return train_.batch(step_rows(next_order, 0), options_.device, epoch_ + 1);
  };
  auto start = Clock::now();
  Examples::Batch next = prefetch(step_in_epoch_);
  while (epoch_ < options_.epochs) {
    while (step_in_epoch_ < steps_per_epoch_) {
      const Examples::Batch batch = std::move(next);
      const double lr = schedule_.lr(global_step_);
      const StepResult result = step(batch, lr);
      const std::int64_t size = batch.labels.size(0);
      if (!result.non_finite.empty()) {
        if (options_.nan == NanPolicy::Stop) {
          throw Error("epoch " + std::to_string(epoch_ + 1) + " step " +
                      std::to_string(global_step_ + 1) + "/" + std::to_string(steps) + ": " +
                      result.non_finite +
                      "; training stopped, no adapter written (a lower --lr or --grad-clip may "
                      "help; --nan skip-step skips such steps)");
        }
        ++skipped_steps_;
      }
      next = prefetch(step_in_epoch_ + 1);
      const double value = result.loss;

      ++step_in_epoch_;
      ++global_step_;
      if (result.non_finite.empty()) {
        epoch_loss_sum_ += value * double(size);
        epoch_images_ += size;
      }
      images_ += size;
      const double elapsed = seconds_since(start);
      seconds_ += elapsed;
      if (callbacks.on_step) {
        callbacks.on_step({epoch_ + 1, options_.epochs, global_step_, steps, size, value, lr,
                           elapsed > 0.0 ? double(size) / elapsed : 0.0, method_.diagnostics(),
                           !result.non_finite.empty()});
      }
      io::fault_point("step");
      // A stop after an epoch's last step waits for the epoch's end (its
      // evaluation and checkpoint), so a checkpoint is always mid-epoch or
      // at an epoch boundary.
      if (step_in_epoch_ < steps_per_epoch_ && stop_requested(callbacks)) {
        if (callbacks.save_checkpoint) callbacks.save_checkpoint(checkpoint());
        return Outcome::Stopped;
      }
      start = Clock::now();
    }
    order = std::move(next_order);
    last_epoch_loss_ = epoch_loss_sum_ / double(epoch_images_);
    epoch_loss_sum_ = 0.0;
    epoch_images_ = 0;
    step_in_epoch_ = 0;
    ++epoch_;
    if (callbacks.on_epoch) callbacks.on_epoch(epoch_, last_epoch_loss_);
    evaluate_epoch(callbacks);
    if (callbacks.save_checkpoint) callbacks.save_checkpoint(checkpoint());
    if (epoch_ < options_.epochs && stop_requested(callbacks)) return Outcome::Stopped;
    start = Clock::now();  // evaluation and saving are not training time
  }
  if (options_.keep != Keep::Last && !kept_.empty()) restore(kept_);
  method_.finish_training();
  return Outcome::Finished;
}

double Trainer::evaluate(const Examples& examples) {
  method_.set_training(false);
  std::int64_t hits = 0;
  {
    torch::InferenceMode inference;
    const std::int64_t n = examples.size();
    for (std::int64_t start = 0; start < n; start += options_.batch) {
      std::vector<std::int64_t> rows;
      for (std::int64_t r = start; r < std::min(n, start + options_.batch); ++r) rows.push_back(r);
      const Examples::Batch batch = examples.batch(rows, options_.device);
      const model::AutocastScope autocast(options_.precision, options_.device);
      const torch::Tensor pooled = examples.are_features() ? method_.pooled(batch.inputs)
                                                           : vit_->features(batch.inputs, method_);
      hits += top1_hits(head_->forward(pooled), batch.labels);
    }
  }
  method_.set_training(true);
  return 100.0 * double(hits) / double(examples.size());
}

nlohmann::json Trainer::summary() const {
  std::int64_t head_params = head_->weight.numel() + head_->bias.numel();
  nlohmann::json kept = {{"rule", keep_name(options_.keep)},
                         {"epoch", options_.keep == Keep::Last ? epoch_ : kept_epoch_}};
  if (options_.keep == Keep::BestVal) kept["val_top1"] = measured(best_top1_);
  if (options_.keep == Keep::BestTest) {
    kept["test_top1"] = measured(best_test_top1_);
    kept["warning"] = "chosen by its test accuracy: an optimistic estimate, not a held-out result";
  }
  nlohmann::json out = {
      {"epochs", epoch_},
      {"steps", global_step_},
      {"final_train_loss", measured(last_epoch_loss_)},
      {"best_val_top1", measured(best_top1_)},
      {"best_val_epoch", best_top1_ >= 0.0 ? nlohmann::json(best_epoch_) : nullptr},
      {"final_val_top1", measured(final_top1_)},
      {"skipped_steps", skipped_steps_},
      {"params_trainable", method_.parameter_count()},
      {"params_head", head_params},
      {"train_examples", train_.size()},
      {"val_examples", val_ ? nlohmann::json(val_->size()) : nullptr},
      {"kept", kept},
      {"settings", settings_}};
  if (test_) {
    out["best_test_top1"] = measured(best_test_top1_);
    out["best_test_epoch"] = best_test_top1_ >= 0.0 ? nlohmann::json(best_test_epoch_) : nullptr;
    out["final_test_top1"] = measured(final_test_top1_);
    out["test_examples"] = test_->size();
  }
  return out;
}

nlohmann::json Trainer::measurements() const {
  return {{"seconds", seconds_},
          {"images_per_second", seconds_ > 0.0 ? double(images_) / seconds_ : 0.0},
          {"peak_rss_bytes", eval::peak_rss_bytes()},
          {"peak_memory_bytes", eval::peak_memory_bytes(options_.device)}};
}

}  // namespace vpet::train
