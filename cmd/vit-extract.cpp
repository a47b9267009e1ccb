// vit-extract: run a frozen ViT over a dataset and write features, logits or
// per-layer tokens as a vpet stream, one record per batch; with an adapter
// bundle, the adapted model's features or logits.
#include <torch/torch.h>

#include <algorithm>
#include <cstdlib>

#include <optional>
#include <string>
#include <vector>

#include "vpet/cli/allocator.h"
#include "vpet/cli/augment_options.h"
#include "vpet/cli/common_options.h"
#include "vpet/cli/log.h"
#include "vpet/cli/program.h"
#include "vpet/cli/progress.h"
#include "vpet/data/dataset.h"
#include "vpet/data/loader.h"
#include "vpet/error.h"
#include "vpet/eval/bundle_backbone.h"
#include "vpet/eval/task.h"
#include "vpet/io/output_set.h"
#include "vpet/io/stream.h"
#include "vpet/model/checkpoint.h"
#include "vpet/model/device.h"

namespace {

using vpet::UsageError;

enum class Feature { Cls, Mean, Tokens, Logits, Pixels };

Feature parse_feature(const std::string& name) {
  if (name == "cls") return Feature::Cls;
  if (name == "mean") return Feature::Mean;
  if (name == "tokens") return Feature::Tokens;
  if (name == "logits") return Feature::Logits;
  if (name == "pixels") return Feature::Pixels;
  throw UsageError("--feature: '" + name + "' is not one of cls, mean, tokens, logits, pixels");
}

// "all", or comma-separated layer numbers; negative numbers count from the end
// (-1 = depth, the last block's output).
std::vector<std::int64_t> parse_layers(const std::string& text, std::int64_t depth) {
  std::vector<std::int64_t> layers;
  if (text == "all") {
    for (std::int64_t i = 0; i <= depth; ++i) layers.push_back(i);
    return layers;
  }
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t comma = text.find(',', start);
    std::string item = text.substr(start, comma == std::string::npos ? comma : comma - start);
    std::size_t used = 0;
    std::int64_t layer = 0;
    try {
      layer = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (item.empty() || used != item.size()) {
      throw UsageError("--layers: '" + item + "' is not a layer number (or use 'all')");
    }
    if (layer < 0) layer += depth + 1;
    if (layer < 0 || layer > depth) {
      throw UsageError("--layers: layer " + item + " is outside 0.." + std::to_string(depth) +
                       " for this " + std::to_string(depth) + "-block model");
    }
    layers.push_back(layer);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return layers;
}

// --shard: which piece of how many.
struct Shard {
  std::int64_t index = 0, count = 1;
};

// "I/N", or "rank": torchrun's RANK and WORLD_SIZE, else Slurm's
// SLURM_PROCID and SLURM_NTASKS.
Shard parse_shard(const std::string& text) {
  std::string spec = text;
  if (text == "rank") {
    const auto from = [](const char* rank, const char* size) -> std::string {
      const char* r = std::getenv(rank);
      const char* n = std::getenv(size);
      return r && n ? std::string(r) + "/" + n : std::string();
    };
    spec = from("RANK", "WORLD_SIZE");
    if (spec.empty()) spec = from("SLURM_PROCID", "SLURM_NTASKS");
    if (spec.empty()) {
      throw UsageError(
          "--shard rank: neither RANK/WORLD_SIZE (torchrun) nor "
          "SLURM_PROCID/SLURM_NTASKS (srun) is set");
    }
  }
  const std::size_t slash = spec.find('/');
  const auto number = [&](const std::string& part) {
    std::size_t used = 0;
    long long value = -1;
    try {
      value = std::stoll(part, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (part.empty() || used != part.size() || value < 0 || value > 1000000) return -1LL;
    return value;
  };
  const long long index = slash == std::string::npos ? -1 : number(spec.substr(0, slash));
  const long long count = slash == std::string::npos ? -1 : number(spec.substr(slash + 1));
  if (index < 0 || count < 1 || index >= count) {
    throw UsageError("--shard: '" + spec + "' is not I/N with 0 <= I < N");
  }
  return {index, count};
}

// The command line without --shard and its value: every piece's header is
// the whole stream's.
std::vector<std::string> without_shard(const std::vector<std::string>& args) {
  std::vector<std::string> kept;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--shard") {
      ++i;
      continue;
    }
    if (args[i].rfind("--shard=", 0) == 0) continue;
    kept.push_back(args[i]);
  }
  return kept;
}

void declare(cxxopts::Options& options) {
  vpet::cli::add_model_options(options);
  // clang-format off
  options.add_options("Model")
    ("a,adapter",
     "Adapter bundle from peft-train: the adapted model's features (--feature cls: what its "
     "head reads) or logits; its preprocessing unless given",
     cxxopts::value<std::string>(),
     "FILE");
  // clang-format on
  vpet::cli::add_data_options(options);
  vpet::cli::add_batch_option(options, 32);
  vpet::cli::add_preprocess_options(options);
  vpet::cli::add_augment_options(options);
  // clang-format off
  options.add_options("Preprocessing")
    ("epoch",
     "With augmentation: the training epoch whose draws to apply (0-based, as peft-train's)",
     cxxopts::value<std::int64_t>()->default_value("0"),
     "N");
  // clang-format on
  // clang-format off
  options.add_options("Extraction")
    ("feature",
     "What to emit: cls (final-normed class token, timm's pre-logits), mean " "(pooled patch tokens), tokens (every token of --layers), logits, or pixels (the " "model's input, after preprocessing and any --augment)",
     cxxopts::value<std::string>()->default_value("cls"),
     "NAME")
    ("layers",
     "With --feature tokens: layer numbers (0: before the blocks, i: output of " "block i-1, negative from the end) or 'all' (default: the last)",
     cxxopts::value<std::string>(),
     "LIST")
    ("shard",
     "Write piece I (from 0) of N of the stream, or the piece of this process ('rank': "
     "torchrun's RANK/WORLD_SIZE, else Slurm's SLURM_PROCID/SLURM_NTASKS); the pieces "
     "concatenated in order (cat) are the whole stream, byte for byte",
     cxxopts::value<std::string>(),
     "I/N|rank");
  // clang-format on
  vpet::cli::add_output_option(options, "Features stream");
  vpet::cli::add_runtime_options(options);
  vpet::cli::add_precision_option(options);
}

int run(const cxxopts::ParseResult& result, const std::vector<std::string>& args) {
  namespace cli = vpet::cli;
  const std::string model_path = cli::required_string(result, "model", "-m/--model");
  const std::string data_spec = cli::required_string(result, "data", "-d/--data");
  const Feature feature = parse_feature(result["feature"].as<std::string>());
  if (result.count("layers") && feature != Feature::Tokens) {
    throw UsageError("--layers applies to --feature tokens only");
  }
  if (result.count("adapter") && feature != Feature::Cls && feature != Feature::Logits) {
    throw UsageError(
        "with -a/--adapter, --feature is cls (what the adapter's head reads) or logits");
  }
  // Checked before the work: a directory that cannot take the output fails now.
  vpet::io::OutputSet outputs;
  vpet::io::AtomicOutput& output = outputs.open("-o/--output", result["output"].as<std::string>());

  cli::Runtime runtime = cli::read_runtime_options(result);
  const vpet::model::Precision precision = cli::read_precision_option(result);
  vpet::data::LoaderOptions loader_options = cli::read_loader_options(result, runtime);
  vpet::data::DatasetOptions dataset_options = cli::read_data_options(result);
  // The adapter as peft-eval applies it: labels matched to its classes by
  // name, the model loaded and preprocessed as it was trained.
  std::vector<vpet::peft::Bundle> bundles;
  std::vector<std::string> adapters;
  if (result.count("adapter")) {
    adapters.push_back(result["adapter"].as<std::string>());
    bundles.push_back(vpet::peft::read_bundle(adapters.front()));
    if (dataset_options.classes.empty()) dataset_options.class_set = bundles.front().classes;
  }
  // The dataset first: a bad list file should not wait for a large checkpoint to load.
  vpet::data::Dataset dataset(data_spec, dataset_options);
  if (dataset.size() == 0) throw vpet::Error(data_spec + ": no samples selected");
  const bool from_bundle = !bundles.empty() && !cli::preprocess_options_given(result);
  vpet::model::Backbone backbone =
      vpet::eval::load_bundle_backbone(model_path, cli::read_model_options(result, runtime),
                                       bundles, adapters, 0, bundles.size(), from_bundle);
  for (const std::string& note : backbone.notes) cli::info(model_path + ": " + note);
  const vpet::model::VitConfig& config = backbone.vit->config();
  vpet::image::Preprocess preprocess =
      from_bundle ? vpet::image::preprocess_from_json(bundles.front().preprocess)
                  : cli::read_preprocess_options(result, backbone);
  std::optional<vpet::eval::Task> task;
  if (!bundles.empty())
    task = vpet::eval::adapter_task(bundles.front(), adapters.front(), backbone);

  vpet::model::ExtractRequest request;
  switch (feature) {
    case Feature::Cls:
      if (!config.class_token) {
        cli::info("the model has no class token: 'cls' gives its pre-logits (average pool)");
      }
      request.pre_logits = true;
      break;
    case Feature::Mean:
      request.patch_mean = true;
      break;
    case Feature::Logits:
      if (config.num_classes == 0 && !task) {
        throw vpet::Error(model_path +
                          ": the checkpoint has no head, so no logits; use "
                          "--feature cls");
      }
      request.logits = true;
      break;
    case Feature::Tokens:
      request.layers = result.count("layers")
                           ? parse_layers(result["layers"].as<std::string>(), config.depth)
                           : std::vector<std::int64_t>{config.depth};
      break;
    case Feature::Pixels:
      break;  // the loader's output itself
  }
  // Augmentation only when asked: features of training views (peft-train's).
  const vpet::image::Augment augment = cli::read_augment_options(result, preprocess);
  const std::int64_t epoch = result["epoch"].as<std::int64_t>();
  if (epoch < 0) throw UsageError("--epoch must not be negative");

  // A shard is the run's batches floor(I·B/N) .. floor((I+1)·B/N) - 1 of
  // its B: the records the whole run writes there, so that the pieces
  // concatenate to the whole stream.
  const Shard shard =
      result.count("shard") ? parse_shard(result["shard"].as<std::string>()) : Shard{};
  if (shard.count > 1 && loader_options.skip_bad) {
    throw UsageError("--shard with --skip-bad: a piece cannot know what the others skipped");
  }
  const auto batches = std::int64_t((dataset.size() + std::size_t(loader_options.batch) - 1) /
                                    std::size_t(loader_options.batch));
  const std::int64_t first_batch = shard.index * batches / shard.count;
  const std::int64_t end_batch = (shard.index + 1) * batches / shard.count;
  loader_options.first = std::size_t(first_batch * loader_options.batch);
  loader_options.count = std::size_t((end_batch - first_batch) * loader_options.batch);
  const auto piece = shard.count == 1                ? vpet::io::StreamWriter::Shape::kStream
                     : shard.index == 0              ? vpet::io::StreamWriter::Shape::kFirstPiece
                     : shard.index + 1 < shard.count ? vpet::io::StreamWriter::Shape::kMiddlePiece
                                                     : vpet::io::StreamWriter::Shape::kLastPiece;

  nlohmann::json header = vpet::io::make_header(feature == Feature::Tokens ? "tokens" : "features",
                                                "vit-extract", without_shard(args));
  header["feature"] = result["feature"].as<std::string>();
  if (feature == Feature::Tokens) {
    header["layers"] = request.layers;
    header["prefix_tokens"] = config.prefix_tokens();
  }
  header["samples"] = dataset.size();
  header["num_classes"] = dataset.num_classes();
  header["classes"] = dataset.class_names();
  header["dataset"] = dataset.describe();
  header["preprocess"] = vpet::image::to_json(preprocess);
  if (augment.active()) {
    header["augment"] = vpet::image::to_json(augment);
    header["augment_epoch"] = epoch;
    header["augment_seed"] = dataset_options.seed;
  }
  header["precision"] = vpet::model::precision_name(precision);
  header["backbone"] = backbone.describe();
  if (task) {
    header["adapter"] = task->name;
    header["method"] = task->method;
  }

  vpet::io::StreamWriter writer(output, header, piece);
  vpet::data::BatchLoader loader(dataset, preprocess, loader_options, augment, dataset_options.seed,
                                 epoch);
  cli::Progress progress("extracting", static_cast<std::int64_t>(loader.samples()));
  torch::InferenceMode inference;
  vpet::data::Batch batch;
  std::int64_t samples = 0;
  while (loader.next(batch)) {
    const vpet::model::AutocastScope autocast(precision, runtime.device);
    const torch::Tensor pixels = vpet::model::to_device(batch.images, runtime.device);
    vpet::model::Extracted out;
    if (task) {
      // The adapted model: the feature its head reads, or the head's logits.
      if (feature == Feature::Logits) {
        out.logits = task->logits(backbone.vit, pixels);
      } else {
        out.pre_logits = backbone.vit->features(pixels, *task->hooks);
      }
    } else if (feature != Feature::Pixels) {
      out = backbone.vit->extract(pixels, request);
    }
    torch::Tensor features;
    switch (feature) {
      case Feature::Pixels:
        features = batch.images;
        break;
      case Feature::Cls:
        features = out.pre_logits;
        break;
      case Feature::Mean:
        features = out.patch_mean;
        break;
      case Feature::Logits:
        features = out.logits;
        break;
      case Feature::Tokens:
        features = torch::stack(out.layers, 1);
        break;
    }
    vpet::io::Record record;
    record.tensors.emplace_back("features", features.to(torch::kCPU, torch::kFloat32));
    record.tensors.emplace_back("labels", batch.labels);
    record.tensors.emplace_back("index", batch.index);
    if (batch.augment.defined()) record.tensors.emplace_back("augment", batch.augment);
    writer.write(record);
    samples += batch.labels.size(0);
    progress.advance(batch.labels.size(0));
  }
  // The end record counts what was written (--skip-bad may have dropped
  // some); the last piece's, what every piece wrote.
  if (shard.count > 1) {
    writer.close({{"samples", dataset.size()}, {"records", batches}});
  } else {
    writer.close({{"samples", samples}});
  }
  outputs.commit();
  progress.finish();
  if (loader.skipped() > 0) {
    cli::warn("skipped " + std::to_string(loader.skipped()) + " unreadable image(s)");
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args = vpet::cli::command_line(argc, argv);
  vpet::cli::keep_freed_memory();
  return vpet::cli::run_program(
      {"vit-extract", "Run a frozen Vision Transformer over images; emit features or tokens.",
       "-m MODEL -d DATA [OPTIONS]", declare,
       [&](const cxxopts::ParseResult& result) { return run(result, args); }},
      argc, argv);
}
