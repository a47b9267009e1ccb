// peft-train: train one parameter-efficient method (and a new head) on a
// frozen ViT and write an adapter bundle (vpet-format(5), kind "adapter").
#include <torch/torch.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "vpet/cli/allocator.h"
#include "vpet/cli/augment_options.h"
#include "vpet/cli/common_options.h"
#include "vpet/cli/log.h"
#include "vpet/cli/method_options.h"
#include "vpet/cli/program.h"
#include "vpet/cli/progress.h"
#include "vpet/cli/recipe_options.h"
#include "vpet/data/dataset.h"
#include "vpet/data/image_cache.h"
#include "vpet/error.h"
#include "vpet/io/output_set.h"
#include "vpet/io/safetensors.h"
#include "vpet/model/checkpoint.h"
#include "vpet/model/export.h"
#include "vpet/peft/bundle.h"
#include "vpet/peft/registry.h"
#include "vpet/train/checkpoint.h"
#include "vpet/train/examples.h"
#include "vpet/train/head.h"
#include "vpet/train/interrupt.h"
#include "vpet/train/metrics.h"
#include "vpet/train/recipe.h"
#include "vpet/train/trainer.h"

namespace {

using vpet::Error;
using vpet::UsageError;
namespace cli = vpet::cli;
namespace train = vpet::train;

void declare(cxxopts::Options& options) {
  cli::add_model_options(options);
  cli::add_data_options(options);
  // clang-format off
  options.add_options("Data")
    ("val",
     "Validation set (a dataset spec; with --features, a features stream)",
     cxxopts::value<std::string>(),
     "SPEC")
    ("val-per-class",
     "Keep N (or draws A..B-1, as --per-class) of each --val class, drawn with --seed (0: all)",
     cxxopts::value<std::string>()->default_value("0"),
     "N|A:B")
    ("test",
     "Test set for --keep best-test only, evaluated as --val is (a dataset spec; with "
     "--features, a features stream)",
     cxxopts::value<std::string>(),
     "SPEC")
    ("features",
     "Train the linear probe on a vit-extract --feature cls stream instead of -m/-d",
     cxxopts::value<std::string>(),
     "FILE");
  // clang-format on
  cli::add_batch_option(options, 32);
  cli::add_preprocess_options(options);
  cli::add_augment_options(options);
  cli::add_mixup_options(options);
  std::string methods;
  for (const std::string& name : vpet::peft::method_names()) {
    methods += (methods.empty() ? "" : ", ") + name;
  }
  // clang-format off
  options.add_options("Method")
    ("method", "Method: " + methods, cxxopts::value<std::string>(), "NAME");
  // clang-format on
  cli::add_recipe_options(options);
  cli::add_method_options(options);
  // clang-format off
  options.add_options("Method")
    ("mask",
     "Train with the pruning masks of this pruned bundle (lion-prune's output)",
     cxxopts::value<std::string>(),
     "BUNDLE")
    ("rewind-from",
     "Start the method's tensors and the head from this bundle (lottery-ticket rewinding)",
     cxxopts::value<std::string>(),
     "BUNDLE");
  // clang-format on
  // clang-format off
  options.add_options("Training")
    ("epochs", "Epochs", cxxopts::value<std::int64_t>()->default_value("10"), "N")
    ("lr", "Base learning rate", cxxopts::value<double>()->default_value("0.001"), "LR")
    ("wd",
     "Weight decay of the method's matrices",
     cxxopts::value<double>()->default_value("0.0001"),
     "WD")
    ("wd-head", "Weight decay of the head's weight (default: --wd)", cxxopts::value<double>(), "WD")
    ("wd-prompts", "Also decay tokens and prompts (with --wd)")
    ("lr-ratio-b", "LoRA+: the LoRA B factors learn at R times the rate (lora, dora, spt-lora; the paper "
                   "suggests 16)", cxxopts::value<double>()->default_value("1"), "R")
    ("optimizer", "adamw or sgd", cxxopts::value<std::string>()->default_value("adamw"), "NAME")
    ("momentum", "SGD momentum", cxxopts::value<double>()->default_value("0.9"), "M")
    ("warmup",
     "Linear warmup, in epochs (fractions allowed)",
     cxxopts::value<double>()->default_value("0"),
     "EPOCHS")
    ("warmup-lr",
     "The warmup's first rate, ramping linearly to --lr (timm's warmup_lr_init; default: "
     "lr·(t+1)/W, whose first step already moves)",
     cxxopts::value<double>(),
     "LR")
    ("schedule",
     "cosine (after the warmup, to --min-lr), timm-cosine (timm's CosineLRScheduler: over the "
     "whole run, as SPT) or constant",
     cxxopts::value<std::string>()->default_value("cosine"),
     "NAME")
    ("min-lr", "The cosine's floor", cxxopts::value<double>()->default_value("0"), "LR")
    ("schedule-unit",
     "Step the schedule per iteration or per epoch (VPT, SPT)",
     cxxopts::value<std::string>()->default_value("iteration"),
     "UNIT")
    ("schedule-lag",
     "Epochs (or iterations) the rate trails the schedule (SPT's train_spt.py: 1)",
     cxxopts::value<std::int64_t>()->default_value("0"),
     "N")
    ("head-init",
     "The head's weight: trunc-normal[:STD] (timm, SPT, Self-Prompt), normal:STD or "
     "kaiming-fan-out (VPT)",
     cxxopts::value<std::string>()->default_value("trunc-normal:0.02"),
     "INIT")
    ("head-bias",
     "The head's bias: zero, or uniform (PyTorch's nn.Linear default, PGN's)",
     cxxopts::value<std::string>()->default_value("zero"),
     "INIT")
    ("label-smoothing",
     "Label smoothing of the cross-entropy",
     cxxopts::value<double>()->default_value("0"),
     "E")
    ("drop-path",
     "Backbone stochastic depth rate (0: none)",
     cxxopts::value<double>()->default_value("0"),
     "R")
    ("grad-clip",
     "Clip the gradients' global L2 norm (0: off)",
     cxxopts::value<double>()->default_value("0"),
     "NORM")
    ("nan",
     "A step whose loss or gradient is NaN or infinite: stop (exit 1, no adapter) or "
     "skip-step (no update; counted)",
     cxxopts::value<std::string>()->default_value("stop"),
     "POLICY")
    ("eval-every",
     "Evaluate top-1 on --val every N epochs (0: after the last only; 1 with a --keep best-*)",
     cxxopts::value<std::int64_t>()->default_value("0"),
     "N")
    ("keep",
     "The epoch whose weights the bundle holds: last, best-val (the best --val top-1) or "
     "best-test (the best --test top-1: optimistic, some papers' protocol)",
     cxxopts::value<std::string>()->default_value("last"),
     "WHICH")
    ("metrics",
     "Write one JSON line per step and evaluation",
     cxxopts::value<std::string>(),
     "FILE")
    ("checkpoint",
     "Save model, optimiser, generators and position every epoch",
     cxxopts::value<std::string>(),
     "FILE")
    ("resume", "Continue the run saved in this checkpoint", cxxopts::value<std::string>(), "FILE");
  // clang-format on
  cli::add_output_option(options, "Adapter bundle");
  // clang-format off
  options.add_options("Output")
    ("export-backbone",
     "Also write the trained backbone and the new head as a timm-layout safetensors "
     "checkpoint (methods that train backbone weights only: full, bitfit, linear)",
     cxxopts::value<std::string>(),
     "FILE");
  // clang-format on
  cli::add_runtime_options(options);
  cli::add_precision_option(options);
  options.add_options("General")("v,verbose",
                                 "Print the settings --recipe resolved to before training");
}

train::TrainOptions read_train_options(const cxxopts::ParseResult& result,
                                       const cli::Runtime& runtime) {
  train::TrainOptions options;
  options.epochs = result["epochs"].as<std::int64_t>();
  options.batch = result["batch"].as<std::int64_t>();
  options.lr = result["lr"].as<double>();
  options.groups.weight_decay = result["wd"].as<double>();
  options.groups.head_weight_decay =
      result.count("wd-head") ? result["wd-head"].as<double>() : options.groups.weight_decay;
  options.groups.prompts = result["wd-prompts"].as<bool>();
  options.groups.lora_b_lr_ratio = result["lr-ratio-b"].as<double>();
  options.optimizer.kind = train::parse_optimizer(result["optimizer"].as<std::string>());
  options.optimizer.momentum = result["momentum"].as<double>();
  if (result.count("momentum") && options.optimizer.kind != train::OptimizerKind::Sgd) {
    cli::warn("--momentum applies to --optimizer sgd only");
  }
  options.warmup = result["warmup"].as<double>();
  options.schedule = train::parse_schedule(result["schedule"].as<std::string>());
  if (result.count("warmup-lr")) options.warmup_lr = result["warmup-lr"].as<double>();
  options.min_lr = result["min-lr"].as<double>();
  const std::string unit = result["schedule-unit"].as<std::string>();
  if (unit != "iteration" && unit != "epoch") {
    throw UsageError("--schedule-unit: '" + unit + "' is not one of iteration, epoch");
  }
  options.schedule_per_epoch = unit == "epoch";
  options.schedule_lag = result["schedule-lag"].as<std::int64_t>();
  options.label_smoothing = result["label-smoothing"].as<double>();
  options.mixup = cli::read_mixup_options(result);
  options.drop_path = result["drop-path"].as<double>();
  options.grad_clip = result["grad-clip"].as<double>();
  options.nan = train::parse_nan_policy(result["nan"].as<std::string>());
  options.seed = result["seed"].as<std::uint64_t>();
  options.eval_every = result["eval-every"].as<std::int64_t>();
  options.keep = train::parse_keep(result["keep"].as<std::string>());
  // Choosing an epoch needs each epoch evaluated.
  if (options.keep != train::Keep::Last && !result.count("eval-every")) options.eval_every = 1;
  options.device = runtime.device;
  options.precision = cli::read_precision_option(result);
  options.validate();
  return options;
}

// What the run trains on, whichever way it came.
struct Inputs {
  std::optional<vpet::model::Backbone> backbone;  // absent with --features
  nlohmann::json backbone_description;
  std::vector<std::string> classes;
  nlohmann::json preprocess;
  nlohmann::json augment = nullptr;  // the training images' (-m/-d)
  std::int64_t width = 0;
  // Decoded images (-m/-d), or features (--features).
  std::shared_ptr<const vpet::data::ImageCache> train_images, val_images, test_images;
  std::optional<train::Examples> train, val, test;
};

std::vector<std::string> feature_classes(const nlohmann::json& header, const std::string& path) {
  try {
    return header.at("classes").get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception&) {
    throw Error(path + ": the header's classes are not a list of names");
  }
}

Inputs read_feature_inputs(const cxxopts::ParseResult& result) {
  const std::string path = result["features"].as<std::string>();
  train::FeatureFile file = train::read_features(path);
  Inputs inputs;
  inputs.backbone_description = file.header.at("backbone");
  inputs.classes = feature_classes(file.header, path);
  inputs.preprocess = file.header.at("preprocess");
  inputs.width = file.examples.batch({0}, torch::kCPU).inputs.size(1);
  inputs.train = std::move(file.examples);
  // A held-out features stream: of the same backbone and classes.
  auto held_out = [&](const std::string& option) {
    const std::string other = result[option].as<std::string>();
    train::FeatureFile file = train::read_features(other);
    if (file.header.at("backbone").value("fingerprint", "") !=
        inputs.backbone_description.value("fingerprint", "")) {
      throw Error(other + ": features of another backbone than " + path + "'s");
    }
    if (feature_classes(file.header, other) != inputs.classes) {
      throw Error(other + ": its classes differ from " + path + "'s");
    }
    return std::move(file.examples);
  };
  if (result.count("val")) inputs.val = held_out("val");
  if (result.count("test")) inputs.test = held_out("test");
  return inputs;
}

// Validation classes must be the training classes (a list file's val split
// may lack the last ones).
// -m/-d/--val: the datasets first (a bad list file should not wait for a
// large checkpoint), then the backbone, then every image decoded once.
Inputs read_image_inputs(const cxxopts::ParseResult& result, const cli::Runtime& runtime) {
  const std::string model_path = result["model"].as<std::string>();
  const vpet::data::DatasetOptions dataset_options = cli::read_data_options(result);
  const vpet::data::Dataset dataset(result["data"].as<std::string>(), dataset_options);
  if (dataset.size() == 0) throw Error(dataset.spec() + ": no samples selected");
  // A held-out set (--val, --test): the class subset applies to it, the
  // sample limits (but --val-per-class) to training only.
  const auto held_out = [&](const std::string& option) {
    std::optional<vpet::data::Dataset> set;
    if (!result.count(option)) return set;
    vpet::data::DatasetOptions options;
    options.classes = dataset_options.classes;
    options.labels = dataset_options.labels;
    options.root = dataset_options.root;
    // Matched to the training classes by name (a list of class names may
    // meet them in another order), before --classes picks the same ones.
    options.class_set = dataset.listed_class_names();
    if (option == "val" && result.count("val-per-class")) {
      options.seed = dataset_options.seed;
      cli::read_per_class(result["val-per-class"].as<std::string>(), "--val-per-class", options);
    }
    set.emplace(result[option].as<std::string>(), options);
    return set;
  };
  const std::optional<vpet::data::Dataset> val_set = held_out("val"), test_set = held_out("test");
  Inputs inputs;
  inputs.backbone =
      vpet::model::load_backbone(model_path, cli::read_model_options(result, runtime));
  for (const std::string& note : inputs.backbone->notes) cli::info(model_path + ": " + note);
  const vpet::model::VitConfig& vit_config = inputs.backbone->vit->config();
  const vpet::image::Preprocess preprocess = cli::read_preprocess_options(result, *inputs.backbone);
  inputs.backbone_description = inputs.backbone->describe();
  inputs.classes = dataset.class_names();
  inputs.preprocess = vpet::image::to_json(preprocess);
  inputs.width = vit_config.width;
  const vpet::data::LoaderOptions loader = cli::read_loader_options(result, runtime);
  const vpet::image::Augment augment = cli::read_augment_options(result, preprocess);
  inputs.augment = vpet::image::to_json(augment);
  cli::info("decoding " + std::to_string(dataset.size()) + " training images");
  // Each epoch's crops and flips are drawn from --seed, the epoch and the sample.
  inputs.train_images = std::make_shared<vpet::data::ImageCache>(
      dataset, preprocess, loader, augment, result["seed"].as<std::uint64_t>());
  if (val_set) {
    inputs.val_images = std::make_shared<vpet::data::ImageCache>(*val_set, preprocess, loader);
  }
  if (test_set) {
    inputs.test_images = std::make_shared<vpet::data::ImageCache>(*test_set, preprocess, loader);
  }
  return inputs;
}

// Images go through the backbone every step, unless the method leaves its
// features unchanged and the images are neither augmented nor mixed (the
// validation images never are): then each image's features are computed once.
train::Examples examples_of(const std::shared_ptr<const vpet::data::ImageCache>& images,
                            vpet::model::VisionTransformer& vit, vpet::peft::Method& method,
                            const train::TrainOptions& options, bool mixed) {
  if (method.changes_backbone_features() || images->augments() || mixed) {
    return train::Examples::images(images);
  }
  return train::cache_features(*images, vit, options.batch, options.device, options.precision);
}

// A bundle --mask or --rewind-from names: of this method, backbone and classes.
vpet::peft::Bundle related_bundle(const std::string& path, const std::string& option,
                                  const vpet::peft::Method& method, const Inputs& inputs) {
  vpet::peft::Bundle bundle = vpet::peft::read_bundle(path);
  if (bundle.method != method.name()) {
    throw UsageError(option + " " + path + " is a " + bundle.method + " bundle, not " +
                     method.name());
  }
  vpet::peft::check_backbone(bundle, *inputs.backbone, path);
  if (bundle.classes != inputs.classes) {
    throw Error(path + ": its classes differ from the training set's");
  }
  return bundle;
}

// Lottery-ticket rewinding: the method's tensors and the head restart from
// an earlier bundle (the method keeps its own masks: pruned entries stay 0).
void rewind(const vpet::peft::Bundle& bundle, const std::string& path, vpet::peft::Method& method,
            torch::nn::Linear& head) {
  try {
    method.load(bundle.tensors);
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
  torch::NoGradGuard no_grad;
  head->weight.copy_(bundle.head_weight);
  head->bias.copy_(bundle.head_bias);
}

// --export-backbone writes the backbone's own parameters: right only for a
// method whose every trained tensor is one of them (full, BitFit, the linear
// probe's none); hooks (LoRA, prompts, ...) would be left behind.
void check_exportable(const vpet::peft::Method& method) {
  for (const auto& [name, tensor] : method.trainable()) {
    if (name.rfind("backbone.", 0) != 0) {
      throw UsageError(
          "--export-backbone needs a method that trains the backbone's own weights "
          "(full, bitfit, linear); " +
          method.name() + " trains " + name + " beside them");
    }
  }
}

// Progress on stderr and the --metrics log, fed by the loop. The method's
// warnings (a LION solve that did not converge) are shown the first time
// and counted in `warned_steps`.
train::TrainCallbacks observe(cli::Progress& progress, std::optional<train::MetricsLog>& metrics,
                              std::int64_t& warned_steps) {
  train::TrainCallbacks callbacks;
  callbacks.on_step = [&progress, &metrics, &warned_steps](const train::StepReport& r) {
    if (r.method.is_object() && r.method.contains("warning")) {
      if (warned_steps++ == 0) {
        cli::warn("step " + std::to_string(r.step) + ": " + r.method["warning"].get<std::string>() +
                  " (further such steps are counted, and every step is in --metrics)");
      }
    }
    char detail[160];
    std::snprintf(detail, sizeof detail, "epoch %lld/%lld step %lld/%lld loss %.4f lr %.3g",
                  static_cast<long long>(r.epoch), static_cast<long long>(r.epochs),
                  static_cast<long long>(r.step), static_cast<long long>(r.steps), r.loss, r.lr);
    progress.set_detail(detail);
    progress.advance(r.images);
    if (metrics) metrics->step(r);
  };
  callbacks.on_epoch = [](std::int64_t epoch, double loss) {
    char line[96];
    std::snprintf(line, sizeof line, "epoch %lld: train loss %.4f", static_cast<long long>(epoch),
                  loss);
    cli::info(line);
  };
  callbacks.on_eval = [&metrics](const train::EvalReport& r) {
    std::string line = "epoch " + std::to_string(r.epoch) + ":";
    char value[48];
    if (r.top1 >= 0.0) {
      std::snprintf(value, sizeof value, " val top-1 %.2f%%", r.top1);
      line += value;
    }
    if (r.test_top1 >= 0.0) {
      std::snprintf(value, sizeof value, " test top-1 %.2f%%", r.test_top1);
      line += value;
    }
    cli::info(line);
    if (metrics) metrics->eval(r);
  };
  return callbacks;
}

// Trainer::measurements() for the log.
std::string measurements_line(const nlohmann::json& measured) {
  char line[160];
  std::snprintf(line, sizeof line, "trained in %.1f s, %.1f img/s, peak RSS %.0f MiB",
                measured.at("seconds").get<double>(),
                measured.at("images_per_second").get<double>(),
                double(measured.at("peak_rss_bytes").get<std::int64_t>()) / (1 << 20));
  return line;
}

int run(const cxxopts::ParseResult& result, const std::vector<std::string>& args) {
  if (result.count("print-settings") && !result.count("recipe")) {
    throw UsageError("--print-settings needs --recipe");
  }
  nlohmann::json recipe;  // the bundle's record of --recipe
  if (result.count("recipe")) {
    if (result["recipe"].as<std::string>() == "list") {
      cli::print_recipes(std::cout);
      return 0;
    }
    const train::Recipe& chosen = train::find_recipe(result["recipe"].as<std::string>());
    const std::vector<cli::ResolvedSetting> settings = cli::resolve_recipe(chosen, result);
    if (result.count("print-settings")) {
      cli::print_settings(std::cout, settings);
      return 0;
    }
    if (result.count("verbose")) {
      cli::info("recipe " + chosen.name + " (" + chosen.source + "):");
      for (const cli::ResolvedSetting& setting : settings) {
        cli::info("  --" + setting.option + " " + setting.value + "  (" +
                  (setting.overridden ? "command line; the recipe's " + setting.recipe_value
                                      : setting.source) +
                  ")");
      }
    }
    recipe = cli::recipe_record(chosen, settings);
  }
  const std::string method_name = cli::required_string(result, "method", "--method");
  const bool from_features = result.count("features") > 0;
  if (from_features) {
    if (method_name != "linear") {
      throw UsageError("--features trains the linear probe only (--method linear)");
    }
    if (result.count("model") || result.count("data")) {
      throw UsageError("--features replaces -m and -d");
    }
    if (result.count("mask") || result.count("rewind-from") || result.count("val-per-class") ||
        result.count("export-backbone")) {
      throw UsageError(
          "--mask, --rewind-from, --val-per-class and --export-backbone need -m and -d");
    }
    if (cli::augment_options_given(result)) {
      throw UsageError("augmentation needs images (-m and -d), not --features");
    }
  } else {
    cli::required_string(result, "model", "-m/--model");
    cli::required_string(result, "data", "-d/--data");
  }
  if (result.count("eval-every") && !result.count("val") && !result.count("test")) {
    throw UsageError("--eval-every needs --val (or --test)");
  }
  if (result.count("val-per-class") && !result.count("val")) {
    throw UsageError("--val-per-class needs --val");
  }
  const train::Keep keep = train::parse_keep(result["keep"].as<std::string>());
  if (keep == train::Keep::BestVal && !result.count("val")) {
    throw UsageError("--keep best-val needs --val");
  }
  if (keep == train::Keep::BestTest && !result.count("test")) {
    throw UsageError("--keep best-test needs --test");
  }
  if (result.count("test") && keep != train::Keep::BestTest) {
    throw UsageError(
        "--test is evaluated during training for --keep best-test only (evaluate a bundle on "
        "a test set with peft-eval)");
  }
  if (keep == train::Keep::BestTest) {
    cli::warn(
        "--keep best-test keeps the epoch with the best --test top-1: that accuracy is chosen on "
        "the test set, an optimistic estimate (the protocol some papers report), not a held-out "
        "result");
  }
  const nlohmann::json config = cli::read_method_config(result, method_name);
  const train::HeadInit head_init = train::parse_head_init(result["head-init"].as<std::string>(),
                                                           result["head-bias"].as<std::string>());
  const cli::Runtime runtime = cli::read_runtime_options(result);
  const train::TrainOptions options = read_train_options(result, runtime);
  // Built before anything is read: an unknown method or a bad setting is a
  // usage error at once.
  std::unique_ptr<vpet::peft::Method> method = vpet::peft::create_method(method_name, config);
  // Every output checked before the work (an unwritable directory, two
  // options naming one file); the adapter and the export appear together
  // at the end, or neither does.
  vpet::io::OutputSet outputs;
  vpet::io::AtomicOutput& bundle_output =
      outputs.open("-o/--output", result["output"].as<std::string>());
  vpet::io::AtomicOutput* export_output =
      result.count("export-backbone")
          ? &outputs.open("--export-backbone", result["export-backbone"].as<std::string>())
          : nullptr;
  if (result.count("checkpoint")) {
    outputs.check("--checkpoint", result["checkpoint"].as<std::string>());
  }
  if (result.count("metrics")) outputs.check("--metrics", result["metrics"].as<std::string>());

  Inputs inputs = from_features ? read_feature_inputs(result) : read_image_inputs(result, runtime);
  if (inputs.backbone) method->check_backbone(inputs.backbone->fingerprint);
  std::optional<train::Checkpoint> resume;
  if (result.count("resume")) resume = train::read_checkpoint(result["resume"].as<std::string>());

  // The head, then the method, from one generator of --seed; drop-path and
  // dropout draw from the default generators, seeded here (and restored by
  // --resume).
  torch::manual_seed(options.seed);
  torch::Generator generator = at::detail::createCPUGenerator(options.seed);
  torch::nn::Linear head =
      train::make_head(inputs.width, std::int64_t(inputs.classes.size()), generator, head_init);
  head->to(options.device);
  vpet::model::VisionTransformer vit{nullptr};
  nlohmann::json pruning;  // lion-prune's rounds behind --mask
  if (inputs.backbone) {
    vit = inputs.backbone->vit;
    if (result.count("mask")) {
      const vpet::peft::Bundle masks =
          related_bundle(result["mask"].as<std::string>(), "--mask", *method, inputs);
      method->restore_structure(masks.structure);
      // The pruning rounds that made the masks stay on record.
      pruning = masks.training.value("pruning", nlohmann::json());
    }
    try {
      method->attach(vit, generator);
    } catch (const Error& e) {
      // Masks that do not fit this configuration.
      if (!result.count("mask")) throw;
      throw Error(result["mask"].as<std::string>() + ": " + e.what());
    }
    if (result.count("export-backbone")) check_exportable(*method);
    if (result.count("rewind-from")) {
      rewind(
          related_bundle(result["rewind-from"].as<std::string>(), "--rewind-from", *method, inputs),
          result["rewind-from"].as<std::string>(), *method, head);
    }
    if (!method->changes_backbone_features()) {
      cli::info("computing each image's features once (the backbone is not trained)");
    }
    inputs.train = examples_of(inputs.train_images, vit, *method, options, options.mixup.active());
    if (inputs.val_images) {
      inputs.val = examples_of(inputs.val_images, vit, *method, options, false);
    }
    if (inputs.test_images) {
      inputs.test = examples_of(inputs.test_images, vit, *method, options, false);
    }
    inputs.train_images.reset();
    inputs.val_images.reset();
    inputs.test_images.reset();
  }

  const nlohmann::json identity = {
      {"method", method->name()},
      {"config", method->config()},
      {"backbone", inputs.backbone_description.value("fingerprint", "")},
      {"classes", inputs.classes},
      {"augment", inputs.augment},
      {"head_init", head_init.describe()},
      {"head_bias", head_init.uniform_bias ? "uniform" : "zero"},
      {"train_examples", inputs.train->size()},
      {"val_examples", inputs.val ? nlohmann::json(inputs.val->size()) : nullptr},
      {"test_examples", inputs.test ? nlohmann::json(inputs.test->size()) : nullptr}};
  train::Trainer trainer(vit, *method, head, *inputs.train, inputs.val, options, identity,
                         inputs.test);
  if (resume) {
    trainer.resume(*resume);
    cli::info("resuming after step " + std::to_string(resume->global_step) + " (epoch " +
              std::to_string(resume->epoch) + " complete)");
  }

  std::optional<train::MetricsLog> metrics;
  if (result.count("metrics")) {
    metrics.emplace(result["metrics"].as<std::string>(), resume.has_value());
    // What the run is, for vpet-report's curves (a resumed run says it again).
    metrics->run({{"method", method_name},
                  {"data", result.count("data") ? nlohmann::json(result["data"].as<std::string>())
                                                : nlohmann::json()},
                  {"seed", options.seed},
                  {"recipe", recipe.is_null() ? nlohmann::json() : recipe.at("name")}});
  }
  const std::int64_t images = inputs.train->size();
  const std::int64_t done =
      resume ? resume->epoch * images + resume->step_in_epoch * options.batch : 0;
  cli::Progress progress("training", options.epochs * images - done);
  std::int64_t warned_steps = 0;
  train::TrainCallbacks callbacks = observe(progress, metrics, warned_steps);
  // Installed only now: a signal while decoding still ends the program at once.
  train::InterruptGuard interrupt;
  callbacks.stop_requested = [&interrupt] { return interrupt.signal() != 0; };
  if (result.count("checkpoint")) {
    const std::string path = result["checkpoint"].as<std::string>();
    callbacks.save_checkpoint = [&, path](const train::Checkpoint& checkpoint) {
      train::write_checkpoint(path, checkpoint, "peft-train", args);
    };
  }
  if (trainer.run(callbacks) == train::Trainer::Outcome::Stopped) {
    cli::warn("interrupted after step " + trainer.summary().at("steps").dump() + "; " +
              (result.count("checkpoint")
                   ? "continue with --resume " + result["checkpoint"].as<std::string>()
                   : "no --checkpoint, so the progress is lost") +
              "; no adapter written");
    return interrupt.exit_status();
  }
  progress.finish();
  const nlohmann::json summary = trainer.summary();
  // Time and memory differ between identical runs: the log and --metrics
  // have them, the bundle does not (the same run writes the same bytes).
  const nlohmann::json measured = trainer.measurements();
  if (metrics) metrics->summary(summary, measured);
  cli::info(measurements_line(measured));
  if (const auto skipped = summary.at("skipped_steps").get<std::int64_t>(); skipped > 0) {
    cli::warn("skipped " + std::to_string(skipped) + " of " + summary.at("steps").dump() +
              " steps whose loss or gradient was not finite (--nan skip-step)");
  }
  if (warned_steps > 0) {
    cli::warn(std::to_string(warned_steps) + " of " + trainer.summary().at("steps").dump() +
              " steps gave a " + method->name() + " warning");
  }

  vpet::peft::Bundle bundle;
  bundle.method = method->name();
  bundle.config = method->config();
  bundle.backbone = inputs.backbone_description;
  bundle.classes = inputs.classes;
  bundle.preprocess = inputs.preprocess;
  bundle.training = trainer.summary();
  if (!pruning.is_null()) bundle.training["pruning"] = pruning;
  if (!recipe.is_null()) bundle.training["recipe"] = recipe;
  bundle.tensors = method->trainable();
  bundle.structure = method->structure();
  bundle.head_weight = head->weight;
  bundle.head_bias = head->bias;
  vpet::peft::write_bundle(bundle_output, bundle, "peft-train", args);
  if (export_output) {
    vpet::io::write_safetensors(*export_output,
                                vpet::model::export_checkpoint(vit, head->weight, head->bias));
  }
  outputs.commit();
  if (export_output) cli::info("backbone written to " + export_output->path());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args = vpet::cli::command_line(argc, argv);
  vpet::cli::keep_freed_memory();
  return vpet::cli::run_program(
      {"peft-train",
       "Train a parameter-efficient method and a new head on a frozen Vision Transformer.",
       "-m MODEL -d TRAIN [--val VAL] --method METHOD -o ADAPTER [OPTIONS]", declare,
       [&](const cxxopts::ParseResult& result) { return run(result, args); },
       vpet::cli::recipe_presets},
      argc, argv);
}
