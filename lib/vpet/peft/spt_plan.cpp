#include "vpet/peft/spt_plan.h"

#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>

#include "vpet/error.h"
#include "vpet/io/stream.h"

namespace vpet::peft::spt {
namespace {

using model::NormSite;
using model::Site;

constexpr const char* kSparsePrefix = "sparse.";

// SPT's order of the six structured slots (its tuned_matrices columns).
constexpr std::array<Site, 6> kMatrixSites = {Site::Q, Site::K,   Site::V,
                                              Site::O, Site::Fc1, Site::Fc2};

// "attn.q", "attn.proj", "mlp.fc1": the linear's module path in SPT's
// (and, but for q/k/v, timm's) naming.
std::string linear_path(Site site) {
  switch (site) {
    case Site::Q:
      return "attn.q";
    case Site::K:
      return "attn.k";
    case Site::V:
      return "attn.v";
    case Site::O:
      return "attn.proj";
    case Site::Fc1:
      return "mlp.fc1";
    case Site::Fc2:
      return "mlp.fc2";
    case Site::Mlp:
      break;
  }
  throw Error("the whole MLP is not an SPT candidate");
}

// The backbone parameter holding a candidate, and the rows of it that are
// the candidate (q, k and v are row blocks of the fused qkv).
struct Location {
  torch::Tensor parameter;
  std::int64_t first_row = 0, rows = -1;  // rows -1: the whole parameter

  torch::Tensor of(const torch::Tensor& tensor) const {
    if (!tensor.defined() || rows < 0) return tensor;
    return tensor.narrow(0, first_row, rows);
  }
};

Location locate(const Candidate& candidate, const model::VisionTransformerImpl& vit) {
  if (candidate.is_norm) {
    torch::nn::LayerNorm norm{nullptr};
    if (candidate.block >= 0) {
      const auto& block = vit.blocks.at(std::size_t(candidate.block));
      norm = candidate.norm == NormSite::Norm1 ? block->norm1 : block->norm2;
    } else {
      norm = candidate.norm == NormSite::Pre     ? vit.norm_pre
             : candidate.norm == NormSite::Final ? vit.norm
                                                 : vit.fc_norm;
    }
    return {candidate.is_bias ? norm->bias : norm->weight};
  }
  const auto& block = vit.blocks.at(std::size_t(candidate.block));
  torch::nn::Linear linear{nullptr};
  switch (candidate.site) {
    case Site::Q:
    case Site::K:
    case Site::V: {
      const std::int64_t width = block->attn->proj->weight.size(0);
      const auto& qkv = block->attn->qkv;
      return {candidate.is_bias ? qkv->bias : qkv->weight, std::int64_t(candidate.site) * width,
              width};
    }
    case Site::O:
      linear = block->attn->proj;
      break;
    case Site::Fc1:
      linear = block->mlp->fc1;
      break;
    default:
      linear = block->mlp->fc2;
      break;
  }
  return {candidate.is_bias ? linear->bias : linear->weight};
}

std::vector<std::string> names_with(const Plan& plan, Tuning tuning) {
  std::vector<std::string> names;
  for (const auto& [name, tensor_plan] : plan.tuned) {
    if (tensor_plan.tuning == tuning) names.push_back(name);
  }
  return names;
}

}  // namespace

const char* structure_name(Structure structure) {
  return structure == Structure::LoRA ? "lora" : "adapter";
}

Structure parse_structure(const std::string& name, const std::string& option) {
  if (name == "lora") return Structure::LoRA;
  if (name == "adapter") return Structure::Adapter;
  throw UsageError(option + ": '" + name + "' is not lora or adapter");
}

std::int64_t Candidate::numel() const {
  std::int64_t n = 1;
  for (std::int64_t extent : shape) n *= extent;
  return n;
}

torch::Tensor Candidate::value(const model::VisionTransformerImpl& vit) const {
  const Location location = locate(*this, vit);
  return location.of(location.parameter);
}

torch::Tensor Candidate::grad(const model::VisionTransformerImpl& vit) const {
  const Location location = locate(*this, vit);
  return location.of(location.parameter.grad());
}

std::vector<Candidate> candidates(const model::VitConfig& config) {
  const std::int64_t width = config.width, hidden = config.mlp_hidden;
  std::vector<Candidate> list;
  auto add_norm = [&](std::int64_t block, NormSite site, const std::string& prefix) {
    for (bool bias : {false, true}) {
      Candidate c;
      c.name = prefix + model::norm_name(site) + (bias ? ".bias" : ".weight");
      c.block = block;
      c.is_norm = true;
      c.is_bias = bias;
      c.norm = site;
      c.shape = {width};
      list.push_back(c);
    }
  };
  auto add_linear = [&](std::int64_t block, Site site, const std::string& prefix) {
    const std::int64_t in = site == Site::Fc2 ? hidden : width;
    const std::int64_t out = site == Site::Fc1 ? hidden : width;
    const bool has_bias =
        (site != Site::Q && site != Site::K && site != Site::V) || config.qkv_bias;
    for (bool bias : {false, true}) {
      if (bias && !has_bias) continue;
      Candidate c;
      c.name = prefix + linear_path(site) + (bias ? ".bias" : ".weight");
      c.block = block;
      c.is_bias = bias;
      c.site = site;
      c.shape = bias ? std::vector<std::int64_t>{out} : std::vector<std::int64_t>{out, in};
      list.push_back(c);
    }
  };
  if (config.norm_pre) add_norm(-1, NormSite::Pre, "");
  for (std::int64_t i = 0; i < config.depth; ++i) {
    const std::string prefix = "blocks." + std::to_string(i) + ".";
    add_norm(i, NormSite::Norm1, prefix);
    for (Site site : {Site::Q, Site::K, Site::V, Site::O}) add_linear(i, site, prefix);
    add_norm(i, NormSite::Norm2, prefix);
    for (Site site : {Site::Fc1, Site::Fc2}) add_linear(i, site, prefix);
  }
  if (config.fc_norm) {
    add_norm(-1, NormSite::Fc, "");
  } else {
    add_norm(-1, NormSite::Final, "");
  }
  return list;
}

std::int64_t module_cost(Structure structure, std::int64_t rank, std::int64_t out,
                         std::int64_t in) {
  if (structure == Structure::LoRA) return rank * (in + out);
  return 2 * rank * out + rank + out;
}

Tuning Plan::tuning(const std::string& name) const {
  const auto found = tuned.find(name);
  return found == tuned.end() ? Tuning::Frozen : found->second.tuning;
}

void count(Plan& plan, const std::vector<Candidate>& candidates) {
  plan.structured_params = plan.unstructured_params = 0;
  for (const Candidate& candidate : candidates) {
    const auto found = plan.tuned.find(candidate.name);
    if (found == plan.tuned.end()) continue;
    switch (found->second.tuning) {
      case Tuning::Module:
        plan.structured_params +=
            module_cost(plan.structure, plan.rank, candidate.shape[0], candidate.shape[1]);
        break;
      case Tuning::Full:
        plan.structured_params += candidate.numel();
        break;
      case Tuning::Sparse:
        plan.unstructured_params += found->second.indices.numel();
        break;
      case Tuning::Frozen:
        break;
    }
  }
}

void check(const Plan& plan, const std::vector<Candidate>& candidates, const std::string& where) {
  std::map<std::string, const Candidate*> by_name;
  for (const Candidate& candidate : candidates) by_name[candidate.name] = &candidate;
  for (const auto& [name, tensor_plan] : plan.tuned) {
    const auto found = by_name.find(name);
    if (found == by_name.end()) {
      throw Error(where + ": '" + name + "' is not a tensor of this model that SPT tunes");
    }
    const Candidate& candidate = *found->second;
    if (tensor_plan.tuning == Tuning::Module && !candidate.is_matrix()) {
      throw Error(where + ": '" + name + "' is a vector and cannot carry a module");
    }
    if (tensor_plan.tuning != Tuning::Sparse) continue;
    const torch::Tensor& indices = tensor_plan.indices;
    if (indices.dim() != 1 || indices.scalar_type() != torch::kInt64 || indices.numel() == 0) {
      throw Error(where + ": the sparse indices of '" + name +
                  "' are not a non-empty 1-d int64 tensor");
    }
    const bool in_range = indices.min().item<std::int64_t>() >= 0 &&
                          indices.max().item<std::int64_t>() < candidate.numel();
    const bool ascending = indices.numel() < 2 || (indices.narrow(0, 1, indices.numel() - 1) >
                                                   indices.narrow(0, 0, indices.numel() - 1))
                                                      .all()
                                                      .item<bool>();
    if (!in_range || !ascending) {
      throw Error(where + ": the sparse indices of '" + name + "' are not distinct, ascending " +
                  "and within its " + std::to_string(candidate.numel()) + " entries");
    }
  }
  Plan recount = plan;
  count(recount, candidates);
  if (recount.structured_params != plan.structured_params ||
      recount.unstructured_params != plan.unstructured_params) {
    throw Error(where + ": its parameter counts (" + std::to_string(plan.structured_params) +
                " + " + std::to_string(plan.unstructured_params) + ") do not match its tensors (" +
                std::to_string(recount.structured_params) + " + " +
                std::to_string(recount.unstructured_params) + ")");
  }
}

nlohmann::json plan_fields(const Plan& plan) {
  return {{"structured", structure_name(plan.structure)},
          {"rank", plan.rank},
          {"budget", plan.budget},
          {"selected", plan.selected},
          {"class_token", plan.class_token},
          {"params", plan.params()},
          {"structured_params", plan.structured_params},
          {"unstructured_params", plan.unstructured_params},
          {"sparse_entries", plan.unstructured_params},
          {"modules", names_with(plan, Tuning::Module)},
          {"vectors", names_with(plan, Tuning::Full)}};
}

std::vector<std::pair<std::string, torch::Tensor>> plan_tensors(const Plan& plan) {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (const auto& [name, tensor_plan] : plan.tuned) {
    if (tensor_plan.tuning == Tuning::Sparse) {
      tensors.emplace_back(kSparsePrefix + name, tensor_plan.indices);
    }
  }
  return tensors;
}

Plan plan_from(const nlohmann::json& fields,
               const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
               const std::string& where) {
  Plan plan;
  try {
    plan.structure = parse_structure(fields.at("structured").get<std::string>(), "structured");
    plan.rank = fields.at("rank").get<std::int64_t>();
    plan.budget = fields.at("budget").get<std::int64_t>();
    plan.selected = fields.at("selected").get<std::int64_t>();
    plan.class_token = fields.at("class_token").get<std::int64_t>();
    plan.structured_params = fields.at("structured_params").get<std::int64_t>();
    plan.unstructured_params = fields.at("unstructured_params").get<std::int64_t>();
    for (const auto& name : fields.at("modules").get<std::vector<std::string>>()) {
      if (plan.tuned.count(name)) throw Error("the module '" + name + "' is listed twice");
      plan.tuned[name].tuning = Tuning::Module;
    }
    for (const auto& name : fields.at("vectors").get<std::vector<std::string>>()) {
      if (plan.tuned.count(name)) throw Error("'" + name + "' is listed twice");
      plan.tuned[name].tuning = Tuning::Full;
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(where + ": not an SPT plan: " + e.what());
  } catch (const UsageError& e) {
    throw Error(where + ": not an SPT plan: " + e.what());
  } catch (const Error& e) {
    throw Error(where + ": " + e.what());
  }
  if (plan.rank < 1) throw Error(where + ": the plan's rank must be >= 1");
  const std::string prefix = kSparsePrefix;
  for (const auto& [name, tensor] : tensors) {
    if (name.rfind(prefix, 0) != 0) {
      throw Error(where + ": unexpected tensor '" + name + "' (a plan holds sparse.<name> only)");
    }
    const std::string target = name.substr(prefix.size());
    if (plan.tuned.count(target)) {
      throw Error(where + ": '" + target + "' is both sparse and a module or full vector");
    }
    plan.tuned[target] = {Tuning::Sparse, tensor};
  }
  return plan;
}

void write_plans(io::AtomicOutput& output, nlohmann::json header, const std::vector<Plan>& plans,
                 std::int64_t depth, const std::string& program,
                 const std::vector<std::string>& args) {
  nlohmann::json full = io::make_header("plan", program, args);
  full.update(header);
  if (!plans.empty()) {
    full["structured"] = structure_name(plans.front().structure);
    full["rank"] = plans.front().rank;
  }
  io::StreamWriter writer(output, full);
  for (const Plan& plan : plans) {
    io::Record record;
    record.fields = plan_fields(plan);
    nlohmann::json matrices = nlohmann::json::array();
    for (std::int64_t i = 0; i < depth; ++i) {
      nlohmann::json row = nlohmann::json::array();
      for (Site site : kMatrixSites) {
        const std::string name =
            "blocks." + std::to_string(i) + "." + linear_path(site) + ".weight";
        row.push_back(plan.tuning(name) == Tuning::Module ? 1 : 0);
      }
      matrices.push_back(row);
    }
    record.fields["matrices"] = matrices;
    record.tensors = plan_tensors(plan);
    writer.write(record);
  }
  writer.close();
}

PlanFile read_plans(const std::string& path) {
  io::StreamReader in(path);
  in.require_kind("plan");
  PlanFile file;
  file.header = in.header();
  file.name = in.name();
  io::Record record;
  while (in.next(record)) {
    file.plans.push_back(plan_from(record.fields, record.tensors,
                                   file.name + ", record " + std::to_string(in.records_read())));
  }
  if (file.plans.empty()) throw Error(file.name + ": the plan file holds no plan");
  return file;
}

const Plan& select_plan(const PlanFile& file, std::int64_t budget) {
  if (budget == 0 && file.plans.size() == 1) return file.plans.front();
  std::string budgets;
  for (const Plan& plan : file.plans) {
    if (plan.budget == budget) return plan;
    budgets += (budgets.empty() ? "" : ", ") + budget_string(plan.budget);
  }
  throw UsageError(file.name +
                   (budget == 0 ? " holds several plans"
                                : " has no plan for --budget " + budget_string(budget)) +
                   "; choose one of its budgets with --budget: " + budgets);
}

std::int64_t parse_budget(const std::string& text, const std::string& option) {
  const char* begin = text.c_str();
  char* end = nullptr;
  double value = std::strtod(begin, &end);
  const std::string suffix(end);
  if (suffix == "M" || suffix == "m") {
    value *= 1e6;
  } else if (suffix == "k" || suffix == "K") {
    value *= 1e3;
  } else if (!suffix.empty() || end == begin) {
    throw UsageError(option + ": '" + text +
                     "' is not a parameter count (e.g. 0.4M, 400k, 400000)");
  }
  if (!std::isfinite(value) || value < 1.0 || value > 1e13) {
    throw UsageError(option + ": '" + text + "' must be at least 1 parameter");
  }
  return std::int64_t(std::llround(value));
}

std::string budget_string(std::int64_t budget) {
  if (budget >= 10000 && budget % 10000 == 0) {
    char text[32];
    std::snprintf(text, sizeof text, "%gM", double(budget) / 1e6);
    return text;
  }
  return std::to_string(budget);
}

}  // namespace vpet::peft::spt
