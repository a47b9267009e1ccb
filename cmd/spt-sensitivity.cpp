// spt-sensitivity: SPT's first stage. Score every candidate weight of a
// frozen ViT by gradient sensitivity on a task's first images, then allocate
// each requested parameter budget to structured modules (LoRA or Adapter),
// fully tuned vectors and sparse entries; write the plans (vpet-format(5),
// kind "plan") for peft-train --method spt-lora|spt-adapter --plan.
#include <torch/torch.h>

#include <cstdio>
#include <string>
#include <vector>

#include "vpet/cli/common_options.h"
#include "vpet/cli/log.h"
#include "vpet/cli/program.h"
#include "vpet/cli/progress.h"
#include "vpet/data/dataset.h"
#include "vpet/data/loader.h"
#include "vpet/error.h"
#include "vpet/io/output_set.h"
#include "vpet/io/safetensors.h"
#include "vpet/model/checkpoint.h"
#include "vpet/peft/bundle.h"
#include "vpet/peft/spt_plan.h"
#include "vpet/spt/allocation.h"
#include "vpet/spt/sensitivity.h"
#include "vpet/train/head.h"

namespace {

namespace cli = vpet::cli;
namespace plan = vpet::peft::spt;
using vpet::UsageError;

void declare(cxxopts::Options& options) {
  cli::add_model_options(options);
  cli::add_data_options(options);
  cli::add_batch_option(options, 32);
  cli::add_preprocess_options(options);
  // clang-format off
  options.add_options("Method")
    ("budget",
     "Trainable parameters to allocate, e.g. 0.4M, 400k (repeat for several plans)",
     cxxopts::value<std::vector<std::string>>(),
     "B")
    ("structured",
     "The module heavily sensitive matrices get: lora or adapter",
     cxxopts::value<std::string>()->default_value("lora"),
     "KIND")
    ("rank", "Rank (LoRA) or bottleneck (Adapter) of the modules",
     cxxopts::value<std::int64_t>()->default_value("8"), "R")
    ("alpha",
     "A matrix gets a module from (module parameters)/alpha selected entries",
     cxxopts::value<double>()->default_value("10"),
     "A")
    ("beta",
     "A vector is tuned in full from (its size)/beta selected entries",
     cxxopts::value<double>()->default_value("5"),
     "B")
    ("batches",
     "Mini-batches of the sensitivity pass (the first batches x batch images)",
     cxxopts::value<std::int64_t>()->default_value("16"),
     "N")
    ("head",
     "Score through this bundle's head (a peft-train adapter of this backbone and classes, e.g. a "
     "linear probe's) instead of a fresh trunc-normal(0.02) head drawn with --seed, as SPT's",
     cxxopts::value<std::string>(),
     "BUNDLE")
    ("drop-path",
     "Backbone stochastic depth during the pass",
     cxxopts::value<double>()->default_value("0.1"),
     "R")
    ("tau-step",
     "Step of the sweep over selected entries; 0: 1% of the smallest budget, at most 20000",
     cxxopts::value<std::int64_t>()->default_value("0"),
     "N");
  options.add_options("Output")
    ("scores",
     "Also write the sensitivity of every candidate tensor (safetensors)",
     cxxopts::value<std::string>(),
     "FILE");
  // clang-format on
  cli::add_output_option(options, "Plans (one per --budget)");
  cli::add_runtime_options(options);
}

vpet::spt::AllocationSettings read_settings(const cxxopts::ParseResult& result) {
  vpet::spt::AllocationSettings settings;
  settings.structure =
      plan::parse_structure(result["structured"].as<std::string>(), "--structured");
  settings.rank = result["rank"].as<std::int64_t>();
  settings.alpha = result["alpha"].as<double>();
  settings.beta = result["beta"].as<double>();
  settings.tau_step = result["tau-step"].as<std::int64_t>();
  settings.validate();
  return settings;
}

std::string thousands(std::int64_t n) {
  std::string digits = std::to_string(n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

// Per block, which of q/k/v/proj/fc1/fc2 got a module, how many vectors are
// tuned in full and how many entries sparsely; then the totals.
void summarise(const plan::Plan& p, const std::vector<plan::Candidate>& candidates,
               std::int64_t depth) {
  const std::int64_t params = p.params();
  char line[256];
  std::snprintf(line, sizeof line,
                "plan for %s: %s parameters (%.1f%% of the budget), %s top entries selected",
                plan::budget_string(p.budget).c_str(), thousands(params).c_str(),
                100.0 * double(params) / double(p.budget), thousands(p.selected).c_str());
  cli::info(line);
  cli::info("  block  q k v proj fc1 fc2  vectors  sparse");
  const char* module_mark = p.structure == plan::Structure::LoRA ? "L" : "A";
  auto row = [&](std::int64_t block, const std::string& label) {
    std::string marks;
    std::int64_t vectors = 0, sparse = 0;
    for (const plan::Candidate& c : candidates) {
      if (c.block != block) continue;
      const plan::Tuning tuning = p.tuning(c.name);
      if (tuning == plan::Tuning::Full) ++vectors;
      if (tuning == plan::Tuning::Sparse) sparse += p.tuned.at(c.name).indices.numel();
      if (c.is_matrix()) {
        // Right-aligned under the header's q k v proj fc1 fc2.
        constexpr int kColumn[] = {1, 1, 1, 4, 3, 3};
        marks += std::string(std::size_t(kColumn[int(c.site)] - 1), ' ') +
                 (tuning == plan::Tuning::Module ? module_mark : ".") + " ";
      }
    }
    if (marks.empty()) marks = std::string(19, ' ');
    std::snprintf(line, sizeof line, "  %-5s  %s %7lld  %6s", label.c_str(), marks.c_str(),
                  static_cast<long long>(vectors), thousands(sparse).c_str());
    cli::info(line);
  };
  for (std::int64_t i = 0; i < depth; ++i) row(i, std::to_string(i));
  row(-1, "model");
  std::int64_t modules = 0, vectors = 0;
  for (const auto& [name, tensor_plan] : p.tuned) {
    modules += tensor_plan.tuning == plan::Tuning::Module;
    vectors += tensor_plan.tuning == plan::Tuning::Full;
  }
  std::snprintf(line, sizeof line,
                "  %lld %s modules (r=%lld) and %lld full vectors: %s; %s sparse entries; class "
                "token %lld",
                static_cast<long long>(modules),
                p.structure == plan::Structure::LoRA ? "LoRA" : "Adapter",
                static_cast<long long>(p.rank), static_cast<long long>(vectors),
                thousands(p.structured_params).c_str(), thousands(p.unstructured_params).c_str(),
                static_cast<long long>(p.class_token));
  cli::info(line);
  if (std::abs(double(params - p.budget)) > 0.05 * double(p.budget)) {
    cli::warn("the closest plan to " + plan::budget_string(p.budget) + " has " + thousands(params) +
              " parameters; try a smaller --tau-step, or another budget");
  }
}

void write_scores(vpet::io::AtomicOutput& output, const torch::Tensor& scores,
                  const std::vector<plan::Candidate>& candidates) {
  vpet::io::TensorMap map;
  std::int64_t offset = 0;
  for (const plan::Candidate& candidate : candidates) {
    map.add(candidate.name, scores.narrow(0, offset, candidate.numel()).reshape(candidate.shape));
    offset += candidate.numel();
  }
  map.metadata["vpet"] = "SPT sensitivity: sum over mini-batches of the squared batch gradient";
  vpet::io::write_safetensors(output, map);
}

// --head: a bundle's trained head, for this backbone and these classes.
torch::nn::Linear head_of_bundle(const std::string& path, const vpet::model::Backbone& backbone,
                                 const vpet::data::Dataset& dataset) {
  const vpet::peft::Bundle bundle = vpet::peft::read_bundle(path);
  vpet::peft::check_backbone(bundle, backbone, path);
  if (bundle.classes != dataset.class_names()) {
    throw vpet::Error(path + ": its head's classes differ from the data's");
  }
  torch::nn::Linear head(bundle.head_weight.size(1), bundle.head_weight.size(0));
  torch::NoGradGuard no_grad;
  head->weight.copy_(bundle.head_weight);
  head->bias.copy_(bundle.head_bias);
  return head;
}

int run(const cxxopts::ParseResult& result, const std::vector<std::string>& args) {
  const std::string model_path = cli::required_string(result, "model", "-m/--model");
  const std::string data_spec = cli::required_string(result, "data", "-d/--data");
  if (!result.count("budget")) throw UsageError("give at least one --budget, e.g. --budget 0.4M");
  std::vector<std::int64_t> budgets;
  for (const std::string& text : result["budget"].as<std::vector<std::string>>()) {
    budgets.push_back(plan::parse_budget(text, "--budget"));
  }
  const vpet::spt::AllocationSettings settings = read_settings(result);
  const std::int64_t batches = result["batches"].as<std::int64_t>();
  if (batches < 1) throw UsageError("--batches must be >= 1");
  const double drop_path = result["drop-path"].as<double>();
  if (!(drop_path >= 0.0 && drop_path < 1.0)) throw UsageError("--drop-path must be in [0, 1)");
  // Both outputs checked before the work, and committed together after it.
  vpet::io::OutputSet outputs;
  vpet::io::AtomicOutput& plan_output =
      outputs.open("-o/--output", result["output"].as<std::string>());
  vpet::io::AtomicOutput* scores_output =
      result.count("scores") ? &outputs.open("--scores", result["scores"].as<std::string>())
                             : nullptr;
  const std::uint64_t seed = result["seed"].as<std::uint64_t>();

  const cli::Runtime runtime = cli::read_runtime_options(result);
  const vpet::data::LoaderOptions loader_options = cli::read_loader_options(result, runtime);
  // The dataset first: a bad list file should not wait for a large checkpoint.
  const vpet::data::Dataset dataset(data_spec, cli::read_data_options(result));
  if (dataset.size() == 0) throw vpet::Error(data_spec + ": no samples selected");
  vpet::model::Backbone backbone =
      vpet::model::load_backbone(model_path, cli::read_model_options(result, runtime));
  for (const std::string& note : backbone.notes) cli::info(model_path + ": " + note);
  const vpet::model::VitConfig& config = backbone.vit->config();
  const vpet::image::Preprocess preprocess = cli::read_preprocess_options(result, backbone);

  const std::int64_t wanted = batches * loader_options.batch;
  const std::int64_t images = std::min<std::int64_t>(wanted, std::int64_t(dataset.size()));
  if (images < wanted) {
    cli::warn(data_spec + " has " + std::to_string(dataset.size()) + " images, fewer than " +
              std::to_string(batches) + " batches of " + std::to_string(loader_options.batch) +
              ": scoring on all of them");
  }
  // Stochastic depth draws from the default generator; the head from its own.
  torch::manual_seed(seed);
  torch::Generator generator = at::detail::createCPUGenerator(seed);
  const std::string head_source =
      result.count("head") ? result["head"].as<std::string>() : "trunc-normal:0.02";
  torch::nn::Linear head =
      result.count("head") ? head_of_bundle(head_source, backbone, dataset)
                           : vpet::train::make_head(config.width, dataset.num_classes(), generator);
  vpet::spt::Sensitivity sensitivity(backbone.vit, head, drop_path);
  vpet::data::BatchLoader loader(dataset, preprocess, loader_options);
  cli::Progress progress("scoring", images);
  vpet::data::Batch batch;
  std::int64_t seen = 0;
  while (sensitivity.batches() < batches && loader.next(batch)) {
    const double loss = sensitivity.add_batch(batch.images, batch.labels);
    char detail[64];
    std::snprintf(detail, sizeof detail, "batch %lld/%lld loss %.4f",
                  static_cast<long long>(sensitivity.batches()), static_cast<long long>(batches),
                  loss);
    progress.set_detail(detail);
    progress.advance(batch.labels.size(0));
    seen += batch.labels.size(0);
  }
  progress.finish();
  if (seen == 0) throw vpet::Error(data_spec + ": no image could be read");

  const torch::Tensor scores = sensitivity.scores();
  const std::vector<plan::Candidate>& candidates = sensitivity.candidates();
  const std::int64_t class_token = config.class_token ? config.width : 0;
  const vpet::spt::Allocation allocation =
      vpet::spt::allocate(scores, candidates, class_token, budgets, settings);
  for (const plan::Plan& p : allocation.plans) summarise(p, candidates, config.depth);

  nlohmann::json header;
  header["backbone"] = backbone.describe();
  header["dataset"] = dataset.describe();
  header["preprocess"] = vpet::image::to_json(preprocess);
  header["sensitivity"] = {
      {"batches", sensitivity.batches()}, {"batch", loader_options.batch}, {"images", seen},
      {"drop_path", drop_path},           {"head", head_source},           {"seed", seed},
      {"candidates", scores.numel()}};
  header["allocation"] = {{"alpha", settings.alpha},
                          {"beta", settings.beta},
                          {"tau_step", allocation.tau_step},
                          {"sweep", allocation.sweep}};
  if (scores_output) write_scores(*scores_output, scores, candidates);
  plan::write_plans(plan_output, header, allocation.plans, config.depth, "spt-sensitivity", args);
  outputs.commit();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args = vpet::cli::command_line(argc, argv);
  return vpet::cli::run_program(
      {"spt-sensitivity",
       "Score a frozen ViT's weights by gradient sensitivity on a task and allocate parameter "
       "budgets for SPT.",
       "-m MODEL -d DATA --budget B [--budget B ...] -o PLAN [OPTIONS]", declare,
       [&](const cxxopts::ParseResult& result) { return run(result, args); }},
      argc, argv);
}
