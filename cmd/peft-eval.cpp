// peft-eval: evaluate a frozen backbone, alone or with adapter bundles, on a
// dataset: top-1/top-5, per-class accuracy, parameter counts, speed, memory;
// per-image predictions on request.
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "vpet/cli/allocator.h"
#include "vpet/cli/common_options.h"
#include "vpet/cli/log.h"
#include "vpet/cli/program.h"
#include "vpet/cli/progress.h"
#include "vpet/data/dataset.h"
#include "vpet/data/loader.h"
#include "vpet/error.h"
#include "vpet/eval/bundle_backbone.h"
#include "vpet/eval/metrics.h"
#include "vpet/eval/predictions.h"
#include "vpet/eval/resources.h"
#include "vpet/eval/task.h"
#include "vpet/io/atomic_file.h"
#include "vpet/io/output_set.h"
#include "vpet/io/stream.h"
#include "vpet/model/device.h"
#include "vpet/peft/bundle.h"
#include "vpet/peft/memory.h"

namespace {

namespace cli = vpet::cli;
using vpet::UsageError;

void declare(cxxopts::Options& options) {
  cli::add_model_options(options);
  // clang-format off
  options.add_options("Model")
    ("a,adapter",
     "Adapter bundle from peft-train (repeatable; none: the checkpoint's own head)",
     cxxopts::value<std::vector<std::string>>(),
     "FILE")
    ("original",
     "Also score the checkpoint's own head on -d (its labels the head's classes); beside masked "
     "memory tasks it comes from their one pass, which leaves it bit-identical");
  // clang-format on
  cli::add_data_options(options);
  cli::add_batch_option(options, 64);
  cli::add_preprocess_options(options);
  // clang-format off
  options.add_options("Output")
    ("json", "Print one JSON object per task, one per line, instead of a table")
    ("confusion",
     "Write the confusion matrix (TSV) of the first task to FILE",
     cxxopts::value<std::string>(),
     "FILE")
    ("predictions",
     "Write each image's label, prediction and top-k probabilities to FILE (one adapter at most)",
     cxxopts::value<std::string>(),
     "FILE")
    ("format",
     "Of --predictions: vpet (a stream of kind predictions) or tsv",
     cxxopts::value<std::string>()->default_value("vpet"),
     "NAME")
    ("top-k",
     "Of --predictions: the classes ranked per image (at most the classes there are)",
     cxxopts::value<std::int64_t>()->default_value("5"),
     "K")
    ("logits", "Of --predictions: also every class's logit");
  // clang-format on
  cli::add_runtime_options(options);
  cli::add_precision_option(options);
}

struct Result {
  nlohmann::json report;
  vpet::eval::Accuracy accuracy;
  std::vector<std::string> classes;
};

// Logits of every task for one batch of pixels.
using Forward = std::function<std::vector<torch::Tensor>(const torch::Tensor& pixels)>;

// One pass over the dataset scoring every task on the logits `forward` gives.
std::vector<Result> evaluate(std::vector<vpet::eval::Task>& tasks, vpet::model::Backbone& backbone,
                             const vpet::data::Dataset& dataset,
                             const vpet::image::Preprocess& preprocess,
                             const vpet::data::LoaderOptions& loader_options,
                             const torch::Device& device, vpet::model::Precision precision,
                             const Forward& forward,
                             vpet::eval::PredictionWriter* predictions = nullptr) {
  std::vector<Result> results;
  for (vpet::eval::Task& task : tasks) {
    const std::int64_t classes = task.num_classes(backbone.vit);
    if (dataset.num_classes() > classes) {
      throw vpet::Error(dataset.spec() + ": " + std::to_string(dataset.num_classes()) +
                        " classes, but " + task.name + " predicts " + std::to_string(classes));
    }
    results.push_back({vpet::eval::parameter_report(task, backbone), vpet::eval::Accuracy(classes),
                       task.classes.empty() ? dataset.class_names() : task.classes});
  }
  vpet::data::BatchLoader loader(dataset, preprocess, loader_options);
  cli::Progress progress(tasks.size() == 1 ? "evaluating " + tasks[0].name : "evaluating",
                         std::int64_t(dataset.size()));
  const auto start = std::chrono::steady_clock::now();
  torch::InferenceMode inference;
  vpet::data::Batch batch;
  while (loader.next(batch)) {
    const vpet::model::AutocastScope autocast(precision, device);
    const std::vector<torch::Tensor> logits = forward(vpet::model::to_device(batch.images, device));
    for (std::size_t t = 0; t < results.size(); ++t)
      results[t].accuracy.add(logits[t], batch.labels);
    if (predictions) predictions->write(logits[0], batch.labels, batch.index);
    progress.advance(batch.labels.size(0));
  }
  progress.finish();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (std::size_t t = 0; t < results.size(); ++t) {
    Result& result = results[t];
    // What the method measured on the way (LION's last solves, the error of
    // PGN's 8-bit prompts), where it measures anything.
    if (tasks[t].hooks) {
      const nlohmann::json diagnostics = tasks[t].hooks->diagnostics();
      if (!diagnostics.empty()) result.report["diagnostics"] = diagnostics;
    }
    result.report.update(result.accuracy.to_json(result.classes));
    result.report["images_per_second"] =
        seconds > 0 ? double(result.accuracy.count()) / seconds : 0.0;
    result.report["peak_memory_bytes"] = vpet::eval::peak_memory_bytes(device);
    result.report["precision"] = vpet::model::precision_name(precision);
    result.report["data"] = dataset.spec();
  }
  return results;
}

// Masked memory-token tasks trained on one backbone share a single forward
// pass (Sandler et al.'s concatenation, and their extension); every other
// method changes what the backbone computes for all tokens, so its tasks run
// one by one.
bool share_one_pass(const std::vector<vpet::peft::Bundle>& bundles) {
  if (bundles.size() < 2) return false;
  for (const vpet::peft::Bundle& bundle : bundles) {
    const nlohmann::json mode = bundle.config.value("memory_mode", nlohmann::json());
    if (bundle.method != "memory" || (mode != "masked" && mode != "extend")) return false;
  }
  return true;
}

void print_table(std::FILE* out, const std::vector<Result>& results) {
  std::fprintf(out, "%-24s %-12s %7s %7s %7s %11s %11s %10s %9s %9s\n", "adapter", "method", "top1",
               "top5", "n", "trainable", "+head", "%backbone", "img/s", "peak MiB");
  for (const Result& r : results) {
    const nlohmann::json& j = r.report;
    std::fprintf(out, "%-24s %-12s %7.2f %7.2f %7lld %11lld %11lld %10.4f %9.1f %9.1f\n",
                 j["adapter"].get<std::string>().c_str(), j["method"].get<std::string>().c_str(),
                 j["top1"].get<double>(), j["top5"].get<double>(), j["n"].get<long long>(),
                 j["params_trainable"].get<long long>(),
                 j["params_trainable_with_head"].get<long long>(),
                 j["params_percent"].get<double>(), j["images_per_second"].get<double>(),
                 double(j["peak_memory_bytes"].get<std::int64_t>()) / (1 << 20));
  }
}

// The names of a task's logits, in order: the bundle's classes; for the
// frozen model the dataset's where they are as many as its head's outputs,
// else the outputs' numbers.
std::vector<std::string> logit_classes(const vpet::eval::Task& task,
                                       const vpet::model::Backbone& backbone,
                                       const vpet::data::Dataset& dataset) {
  if (!task.classes.empty()) return task.classes;
  const std::int64_t outputs = task.num_classes(backbone.vit);
  if (dataset.num_classes() == outputs) return dataset.class_names();
  std::vector<std::string> numbers;
  for (std::int64_t c = 0; c < outputs; ++c) numbers.push_back(std::to_string(c));
  return numbers;
}

// --predictions and the options that shape it; null without it.
std::optional<vpet::eval::PredictionOptions> read_prediction_options(
    const cxxopts::ParseResult& result, std::size_t adapters) {
  if (!result.count("predictions")) {
    for (const char* name : {"format", "top-k", "logits"}) {
      if (result.count(name)) throw UsageError(std::string("--") + name + " needs --predictions");
    }
    return std::nullopt;
  }
  // Each task's predictions would need a file of their own.
  if (adapters > 1) throw UsageError("--predictions takes one adapter; run peft-eval once per -a");
  vpet::eval::PredictionOptions options;
  options.format =
      vpet::eval::parse_prediction_format(result["format"].as<std::string>(), "--format");
  options.top_k = result["top-k"].as<std::int64_t>();
  if (options.top_k < 1) {
    throw UsageError("--top-k must be at least 1, got " + std::to_string(options.top_k));
  }
  options.logits = result.count("logits") > 0;
  return options;
}

int run(const cxxopts::ParseResult& result, const std::vector<std::string>& args) {
  const std::string model_path = cli::required_string(result, "model", "-m/--model");
  const std::string data_spec = cli::required_string(result, "data", "-d/--data");
  const std::vector<std::string> adapters = result.count("adapter")
                                                ? result["adapter"].as<std::vector<std::string>>()
                                                : std::vector<std::string>{};
  const std::optional<vpet::eval::PredictionOptions> prediction_options =
      read_prediction_options(result, adapters.size());

  // Checked before the work, written after it.
  vpet::io::OutputSet outputs;
  vpet::io::AtomicOutput* confusion_output =
      result.count("confusion")
          ? &outputs.open("--confusion", result["confusion"].as<std::string>(), /*binary=*/false)
          : nullptr;
  const bool predictions_on_stdout =
      prediction_options &&
      vpet::io::resolve_output(result["predictions"].as<std::string>()).descriptor == STDOUT_FILENO;
  if (predictions_on_stdout && result.count("json")) {
    throw UsageError("--predictions to standard output leaves no room for --json");
  }
  vpet::io::AtomicOutput* predictions_output =
      prediction_options
          ? &outputs.open("--predictions", result["predictions"].as<std::string>(),
                          prediction_options->format == vpet::eval::PredictionFormat::kVpet)
          : nullptr;

  cli::Runtime runtime = cli::read_runtime_options(result);
  const vpet::model::Precision precision = cli::read_precision_option(result);
  const vpet::data::LoaderOptions loader_options = cli::read_loader_options(result, runtime);
  std::vector<vpet::peft::Bundle> bundles;
  for (const std::string& path : adapters) bundles.push_back(vpet::peft::read_bundle(path));
  vpet::data::DatasetOptions dataset_options = cli::read_data_options(result);
  // The test set's labels are matched to the classes trained on by name (a
  // list of class names may meet them in another order); --classes selects
  // from the test set's own, as it did from the training set's.
  if (!bundles.empty() && dataset_options.classes.empty()) {
    dataset_options.class_set = bundles.front().classes;
  }
  const vpet::data::Dataset dataset(data_spec, dataset_options);
  if (dataset.size() == 0) throw vpet::Error(data_spec + ": no samples selected");
  // The preprocessing: the options given, else what the (first) bundle
  // recorded at training time, else the defaults.
  const bool from_bundle = !cli::preprocess_options_given(result) && !bundles.empty();
  const vpet::model::LoadOptions load_options = cli::read_model_options(result, runtime);
  // The backbone for bundles[first..last).
  auto load_for = [&](std::size_t first, std::size_t last) {
    return vpet::eval::load_bundle_backbone(model_path, load_options, bundles, adapters, first,
                                            last, from_bundle);
  };
  auto preprocess_for = [&](std::size_t i, const vpet::model::Backbone& backbone) {
    return from_bundle ? vpet::image::preprocess_from_json(bundles[i].preprocess)
                       : cli::read_preprocess_options(result, backbone);
  };
  const bool original = result.count("original") > 0;
  if (original && bundles.empty()) {
    throw UsageError(
        "--original is the checkpoint's head beside adapters (-a); without -a "
        "peft-eval scores it alone");
  }
  if (original && prediction_options) {
    throw UsageError("--predictions takes one task; leave out --original");
  }
  std::vector<Result> results;
  if (share_one_pass(bundles)) {
    vpet::model::Backbone backbone = load_for(0, bundles.size());
    std::vector<vpet::eval::Task> tasks;
    // Each task's row in the pass: extensions bring their parents (shared
    // with a parent given here too).
    std::vector<vpet::peft::MemoryTask> memories;
    std::vector<std::size_t> rows;
    for (std::size_t i = 0; i < bundles.size(); ++i) {
      tasks.push_back(vpet::eval::adapter_task(bundles[i], adapters[i], backbone));
      rows.push_back(vpet::peft::add_memory_tasks(*tasks.back().hooks, memories));
    }
    const std::size_t adapted = tasks.size();
    if (original) tasks.push_back(vpet::eval::frozen_task(backbone));
    vpet::peft::MemoryTasks pass(backbone.vit, memories);
    results = evaluate(tasks, backbone, dataset, preprocess_for(0, backbone), loader_options,
                       runtime.device, precision, [&](const torch::Tensor& pixels) {
                         // The original rows' pooled feature: the frozen model's.
                         const torch::Tensor frozen = backbone.vit->features(pixels, pass);
                         std::vector<torch::Tensor> logits;
                         for (std::size_t t = 0; t < adapted; ++t) {
                           logits.push_back(tasks[t].head->forward(pass.features()[rows[t]]));
                         }
                         if (original) logits.push_back(backbone.vit->head_logits(frozen));
                         return logits;
                       });
  } else {
    // One task at a time, each on a backbone of its own: full fine-tuning and
    // BitFit write their trained tensors into the backbone they are applied to.
    // With --original, one more pass: the checkpoint's own head.
    const std::size_t passes = std::max<std::size_t>(1, bundles.size()) + (original ? 1 : 0);
    for (std::size_t i = 0; i < passes; ++i) {
      const bool frozen = i >= bundles.size();
      vpet::model::Backbone backbone = frozen ? load_for(0, bundles.size()) : load_for(i, i + 1);
      std::vector<vpet::eval::Task> tasks;
      tasks.push_back(frozen ? vpet::eval::frozen_task(backbone)
                             : vpet::eval::adapter_task(bundles[i], adapters[i], backbone));
      const vpet::image::Preprocess preprocess = preprocess_for(frozen ? 0 : i, backbone);
      std::unique_ptr<vpet::eval::PredictionWriter> predictions;
      if (predictions_output) {
        nlohmann::json header = vpet::io::make_header("predictions", "peft-eval", args);
        header["adapter"] = tasks[0].name;
        header["method"] = tasks[0].method;
        header["samples"] = dataset.size();
        header["dataset"] = dataset.describe();
        header["preprocess"] = vpet::image::to_json(preprocess);
        header["precision"] = vpet::model::precision_name(precision);
        header["backbone"] = backbone.describe();
        predictions = std::make_unique<vpet::eval::PredictionWriter>(
            *predictions_output, *prediction_options, dataset,
            logit_classes(tasks[0], backbone, dataset), header);
      }
      std::vector<Result> one = evaluate(
          tasks, backbone, dataset, preprocess, loader_options, runtime.device, precision,
          [&](const torch::Tensor& pixels) {
            return std::vector<torch::Tensor>{tasks[0].logits(backbone.vit, pixels)};
          },
          predictions.get());
      if (predictions) predictions->close();
      results.push_back(std::move(one.front()));
    }
  }

  if (confusion_output) {
    std::ostringstream table;
    results.front().accuracy.write_confusion_tsv(table, results.front().classes);
    const std::string text = table.str();
    confusion_output->write(text.data(), text.size());
  }
  outputs.commit();
  if (result.count("json")) {
    // One shape for one task and many: an object per task, a line each.
    for (const Result& r : results)
      std::cout << r.report.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    // Standard output may carry the predictions instead.
    print_table(predictions_on_stdout ? stderr : stdout, results);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  vpet::cli::keep_freed_memory();
  const std::vector<std::string> args = vpet::cli::command_line(argc, argv);
  return vpet::cli::run_program(
      {"peft-eval", "Evaluate a frozen ViT, alone or with adapters, on a dataset.",
       "-m MODEL [-a ADAPTER ...] -d DATA [OPTIONS]", declare,
       [&](const cxxopts::ParseResult& result) { return run(result, args); }},
      argc, argv);
}
