// prompt-init-proto: Self-Prompt Tuning's prompt initialisation. Reads a
// vit-extract tokens stream and writes one set of P prototypes of the
// downstream patch tokens per layer, for peft-train --init-prompts.
#include <torch/torch.h>

#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "vpet/cli/common_options.h"
#include "vpet/cli/log.h"
#include "vpet/cli/program.h"
#include "vpet/cli/progress.h"
#include "vpet/error.h"
#include "vpet/io/output_set.h"
#include "vpet/io/stream.h"
#include "vpet/io/tensor_text.h"
#include "vpet/model/fingerprint.h"
#include "vpet/peft/settings.h"
#include "vpet/proto/prompt_init.h"

namespace {

using vpet::UsageError;
namespace proto = vpet::proto;

// The paper's defaults (its README): 20 prompts per layer deep, 100 shallow.
constexpr std::int64_t kDeepPrompts = 20;
constexpr std::int64_t kShallowPrompts = 100;

// The options only k-means reads.
const char* const kKMeansOptions[] = {"sample-frac", "max-tokens", "iters", "tol", "minibatch"};

void declare(cxxopts::Options& options) {
  // clang-format off
  options.add_options("Input")
    ("input",
     "vit-extract tokens stream ('-': standard input)",
     cxxopts::value<std::string>()->default_value("-"),
     "FILE");
  options.add_options("Method")
    ("method",
     "Prototypes: random (distinct tokens), mean or max (pooled windows), kmeans (cluster centres)",
     cxxopts::value<std::string>()->default_value("random"),
     "NAME")
    ("prompts",
     "Prompts per layer, P (default: 20 with --deep, 100 with --shallow)",
     cxxopts::value<std::int64_t>(),
     "P")
    ("windows",
     "mean, max: the window rule, reference (the released code's: always P rows) or cover "
     "(windows over every token)",
     cxxopts::value<std::string>()->default_value("reference"),
     "RULE")
    ("deep", "One prompt set per block, from layers 0..depth-1: [depth, P, D] (default)")
    ("shallow", "One prompt set, from layer 0: [1, P, D]")
    ("seed",
     "Seed of the sampling and of k-means",
     cxxopts::value<std::uint64_t>()->default_value("0"),
     "N")
    ("sample-frac",
     "kmeans: each token enters the sample with this probability",
     cxxopts::value<double>()->default_value("1"),
     "F")
    ("max-tokens",
     "kmeans: tokens kept per layer at most (a uniform sample; bounds memory)",
     cxxopts::value<std::int64_t>()->default_value("10000"),
     "N")
    ("iters",
     "kmeans: at most N Lloyd iterations (or mini-batch steps)",
     cxxopts::value<std::int64_t>()->default_value("100"),
     "N")
    ("tol",
     "kmeans: stop when the centres move less than T times the mean feature variance",
     cxxopts::value<double>()->default_value("0.0001"),
     "T")
    ("minibatch",
     "kmeans: mini-batch k-means with B tokens per step (0: full Lloyd iterations)",
     cxxopts::value<std::int64_t>()->default_value("0"),
     "B");
  // clang-format on
  // The input is named by position, as vpet-info's; --help shows it as --input.
  options.parse_positional({"input"});
  options.positional_help("");
  options.show_positional_help();
  vpet::cli::add_output_option(options, "Prompts file");
  vpet::cli::add_runtime_options(options);
}

template <typename T>
T checked(const cxxopts::ParseResult& result, const std::string& name, T low, T high,
          const std::string& range) {
  const T value = result[name].as<T>();
  if (!(value >= low && value <= high)) {  // NaN fails too
    throw UsageError("--" + name + " must be " + range + ", got " + std::to_string(value));
  }
  return value;
}

proto::PrototypeOptions read_prototype_options(const cxxopts::ParseResult& result, bool deep) {
  proto::PrototypeOptions options;
  const std::string method = result["method"].as<std::string>();
  const auto parsed = proto::parse_method(method);
  if (!parsed) {
    throw UsageError("--method: '" + method + "' is not one of random, mean, max, kmeans");
  }
  options.method = *parsed;
  constexpr auto kMax = std::numeric_limits<std::int64_t>::max();
  // peft-train's bound on every method count (peft/settings.h).
  constexpr std::int64_t kMaxPrompts = vpet::peft::Settings::kMaxInteger;
  options.prompts = result.count("prompts")
                        ? checked<std::int64_t>(result, "prompts", 1, kMaxPrompts,
                                                "in [1, " + std::to_string(kMaxPrompts) + "]")
                        : (deep ? kDeepPrompts : kShallowPrompts);
  options.seed = result["seed"].as<std::uint64_t>();
  options.windows = proto::parse_window_rule(result["windows"].as<std::string>());
  if (result.count("windows") && options.method != proto::Method::Mean &&
      options.method != proto::Method::Max) {
    vpet::cli::warn("--windows applies to --method mean and max only");
  }
  options.sample_fraction = checked(result, "sample-frac", 1e-9, 1.0, "in (0, 1]");
  options.max_tokens = checked<std::int64_t>(result, "max-tokens", 1, kMax, "at least 1");
  options.kmeans.max_iterations = checked<std::int64_t>(result, "iters", 1, kMax, "at least 1");
  options.kmeans.tolerance =
      checked(result, "tol", 0.0, std::numeric_limits<double>::max(), "at least 0");
  options.kmeans.minibatch = checked<std::int64_t>(result, "minibatch", 0, kMax, "at least 0");
  if (options.method == proto::Method::KMeans && options.max_tokens < options.prompts) {
    throw UsageError("--max-tokens " + std::to_string(options.max_tokens) + " is less than the " +
                     std::to_string(options.prompts) +
                     " prompts: k-means needs at least one token per cluster");
  }
  if (options.method != proto::Method::KMeans) {
    for (const char* name : kKMeansOptions) {
      if (result.count(name)) {
        vpet::cli::warn(std::string("--") + name + " applies to --method kmeans only");
      }
    }
  }
  return options;
}

// Per layer: what went in, and for k-means how the clustering ended.
void report(const proto::PromptInit& init, proto::Method method) {
  for (const proto::LayerSummary& layer : init.layers) {
    std::string line = "layer " + std::to_string(layer.layer) + ": " +
                       std::to_string(layer.tokens_seen) + " tokens seen, ";
    if (layer.kmeans) {
      char inertia[32];
      std::snprintf(inertia, sizeof inertia, "%.6g", layer.kmeans->inertia);
      line += std::to_string(layer.candidates) + " sampled, inertia " + inertia + " after " +
              std::to_string(layer.kmeans->iterations) + " iterations" +
              (layer.kmeans->converged ? " (converged)" : " (stopped at --iters)");
    } else {
      line += "prompts drawn from " + std::to_string(layer.candidates) +
              (method == proto::Method::Random ? " tokens" : " pooled windows");
    }
    vpet::cli::info(line);
  }
}

nlohmann::json layer_stats(const proto::PromptInit& init) {
  nlohmann::json stats = nlohmann::json::array();
  for (const proto::LayerSummary& layer : init.layers) {
    nlohmann::json entry = {{"layer", layer.layer},
                            {"tokens_seen", layer.tokens_seen},
                            {"candidates", layer.candidates}};
    if (layer.kmeans) {
      entry["inertia"] = layer.kmeans->inertia;
      entry["iterations"] = layer.kmeans->iterations;
      entry["converged"] = layer.kmeans->converged;
    }
    stats.push_back(entry);
  }
  return stats;
}

int run(const cxxopts::ParseResult& result, const std::vector<std::string>& args) {
  namespace cli = vpet::cli;
  if (result.count("deep") && result.count("shallow")) {
    throw UsageError("--deep and --shallow exclude each other");
  }
  const bool deep = result.count("shallow") == 0;
  proto::PrototypeOptions options = read_prototype_options(result, deep);
  // Checked before the whole stream is read, not after.
  vpet::io::OutputSet outputs;
  vpet::io::AtomicOutput& output = outputs.open("-o/--output", result["output"].as<std::string>());
  options.device = cli::read_runtime_options(result).device;

  proto::TokenStream input(result["input"].as<std::string>());
  // Prompts that name no backbone could not be checked against peft-train's model.
  vpet::model::recorded_fingerprint(input.header(), input.name());
  const std::vector<std::int64_t> layers =
      proto::prompt_layers(deep, deep ? input.backbone_depth() : 1);
  const nlohmann::json& tokens_header = input.header();
  const nlohmann::json samples = tokens_header.value("samples", nlohmann::json());
  cli::Progress progress("reading tokens",
                         samples.is_number_integer() ? samples.get<std::int64_t>() : 0);
  const proto::PromptInit init = proto::build_prompt_init(
      input, layers, options, [&](std::int64_t images) { progress.advance(images); });
  progress.finish();
  report(init, options.method);

  nlohmann::json header = vpet::io::make_header("prompts", "prompt-init-proto", args);
  for (const char* key : {"backbone", "preprocess", "dataset"}) {
    if (tokens_header.contains(key)) header[key] = tokens_header[key];
  }
  header["method"] = proto::method_name(options.method);
  header["depth"] = deep ? "deep" : "shallow";
  header["prompts"] = options.prompts;
  header["seed"] = options.seed;
  if (options.method == proto::Method::Mean || options.method == proto::Method::Max) {
    header["windows"] = proto::window_rule_name(options.windows);
  }
  header["layers"] = layers;
  header["images"] = init.images;
  header["patches_per_image"] = init.patches_per_image;
  if (options.method == proto::Method::KMeans) {
    header["kmeans"] = {{"sample_fraction", options.sample_fraction},
                        {"max_tokens", options.max_tokens},
                        {"iters", options.kmeans.max_iterations},
                        {"tol", options.kmeans.tolerance},
                        {"minibatch", options.kmeans.minibatch}};
  }
  header["layer_stats"] = layer_stats(init);

  vpet::io::Record record;
  record.tensors.emplace_back("prompts", init.prompts);
  vpet::io::write_one_shot(output, header, record);
  outputs.commit();
  cli::info("wrote " + vpet::io::shape_string(init.prompts.sizes()) + " prompts (" +
            proto::method_name(options.method) + ", " + (deep ? "deep" : "shallow") + ") from " +
            std::to_string(init.images) + " images");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args = vpet::cli::command_line(argc, argv);
  return vpet::cli::run_program(
      {"prompt-init-proto",
       "Self-Prompt Tuning: initialise VPT prompts from prototypes of downstream tokens.",
       "[OPTIONS] [TOKENS]", declare,
       [&](const cxxopts::ParseResult& result) { return run(result, args); }},
      argc, argv);
}
