#include "vpet/peft/spt.h"

#include <cmath>

#include "vpet/error.h"
#include "vpet/model/drop_path.h"
#include "vpet/model/fingerprint.h"
#include "vpet/peft/parameter_init.h"
#include "vpet/peft/settings.h"
#include "vpet/strings.h"

namespace vpet::peft {
namespace {

using model::Site;
using spt::Tuning;

// The requested budget: a count, or text such as "0.4M"; 0 when not given.
std::int64_t budget_of(const nlohmann::json& config) {
  if (!config.contains("budget")) return 0;
  const nlohmann::json& value = config.at("budget");
  if (value.is_number_integer()) return value.get<std::int64_t>();
  if (value.is_string()) return spt::parse_budget(value.get<std::string>(), "--budget");
  throw UsageError("--budget must be a parameter count such as 0.4M");
}

// "blocks.3.attn.v.weight" -> "blocks.3.attn.v".
std::string module_prefix(const std::string& weight_name) {
  return weight_name.substr(0, weight_name.rfind('.'));
}

}  // namespace

torch::Tensor Spt::Delta::dense() const {
  if (!indices.defined()) return values;
  return torch::zeros({numel}, values.options().requires_grad(false)).scatter(0, indices, values);
}

Spt::Spt(spt::Structure structure, const nlohmann::json& config) : structure_(structure) {
  const Settings settings(config);
  dropout_ = settings.number("module_dropout", 0.1, 0.0, 1.0);
  drop_path_ = settings.number("module_drop_path", 0.1, 0.0, 1.0);
  if (!config.contains("plan")) {
    throw UsageError(name() + " needs --plan (a plan made by spt-sensitivity)");
  }
  const nlohmann::json& plan = config.at("plan");
  std::string source = "the adapter's SPT plan";
  if (plan.is_string()) {
    const spt::PlanFile file = spt::read_plans(plan.get<std::string>());
    plan_made_for_ = model::recorded_fingerprint(file.header, file.name);
    plan_ = spt::select_plan(file, budget_of(config));
    source = file.name;
  } else if (plan.is_object()) {
    plan_ = spt::plan_from(plan, {}, source);
  } else {
    throw UsageError("--plan must name a plan file");
  }
  if (plan_.structure != structure_) {
    const std::string made = spt::structure_name(plan_.structure);
    throw UsageError(source + " allocates " + made + " modules (their cost decided it); train it " +
                     "with --method spt-" + made + ", or make a plan with spt-sensitivity " +
                     "--structured " + spt::structure_name(structure_));
  }
  plan_source_ = source;
  fields_ = spt::plan_fields(plan_);
}

void Spt::check_backbone(const std::string& fingerprint) const {
  if (!plan_made_for_.empty() && plan_made_for_ != fingerprint) {
    throw Error(plan_source_ + " is a plan for backbone " + plan_made_for_ +
                ", not for this model (" + fingerprint + "); run spt-sensitivity on this model");
  }
}

std::string Spt::name() const {
  return structure_ == spt::Structure::LoRA ? "spt-lora" : "spt-adapter";
}

const MethodOptions& Spt::options() {
  static const MethodOptions table = {
      {"plan", "plan", MethodOption::Type::Text, "",
       "SPT: the allocation plan (spt-sensitivity's output; - for stdin)", "FILE"},
      {"budget", "budget", MethodOption::Type::Text, "",
       "SPT: train the plan made for this budget (needed when the file holds several)", "B"},
      {"module-dropout", "module_dropout", MethodOption::Type::Number, "0.1",
       "SPT: dropout on the modules' input", "F"},
      {"module-drop-path", "module_drop_path", MethodOption::Type::Number, "0.1",
       "SPT: per-sample drop-path on the modules' output", "F"},
  };
  return table;
}

nlohmann::json Spt::config() const {
  return {{"plan", spt::plan_fields(plan_)},
          {"module_dropout", dropout_},
          {"module_drop_path", drop_path_}};
}

void Spt::restore_structure(const NamedTensors& tensors) {
  plan_ = spt::plan_from(fields_, tensors, "the adapter's SPT plan");
}

void Spt::attach(model::VisionTransformer& vit, torch::Generator& generator) {
  const model::VitConfig& c = vit->config();
  const std::vector<spt::Candidate> candidates = spt::candidates(c);
  spt::check(plan_, candidates, "the " + name() + " plan");
  const std::int64_t class_token = c.class_token ? c.width : 0;
  if (plan_.class_token != class_token) {
    throw Error("the " + name() + " plan counts a class token of " +
                std::to_string(plan_.class_token) + " but this model's is " +
                std::to_string(class_token));
  }
  ln_eps_ = c.ln_eps;
  const torch::Tensor& like = vit->pos_embed;
  trainable_.clear();
  linears_.clear();
  norms_.clear();
  class_token_ = torch::Tensor();
  if (class_token > 0) {
    class_token_ = trainable_like(torch::zeros({1, 1, c.width}), like);
    trainable_.emplace_back(kClassToken, class_token_);
  }
  const std::int64_t rank = plan_.rank;
  for (const spt::Candidate& candidate : candidates) {
    const Tuning tuning = plan_.tuning(candidate.name);
    if (tuning == Tuning::Frozen) continue;
    const Key key = candidate.is_norm ? Key{candidate.block, int(candidate.norm)}
                                      : Key{candidate.block, int(candidate.site)};
    if (tuning == Tuning::Module) {
      const std::int64_t out = candidate.shape[0], in = candidate.shape[1];
      const std::string prefix = module_prefix(candidate.name);
      Module& module = linears_[key].module;
      if (structure_ == spt::Structure::LoRA) {
        module.a = trainable_like(linear_weight(rank, in, generator), like);
        module.b = trainable_like(torch::zeros({out, rank}), like);
        trainable_.emplace_back(prefix + ".lora.A", module.a);
        trainable_.emplace_back(prefix + ".lora.B", module.b);
      } else {
        module.a = trainable_like(linear_weight(rank, out, generator), like);
        module.down_bias =
            trainable_like(uniform({rank}, 1.0 / std::sqrt(double(out)), generator), like);
        module.b = trainable_like(torch::zeros({out, rank}), like);
        module.up_bias = trainable_like(torch::zeros({out}), like);
        trainable_.emplace_back(prefix + ".adapter.down.weight", module.a);
        trainable_.emplace_back(prefix + ".adapter.down.bias", module.down_bias);
        trainable_.emplace_back(prefix + ".adapter.up.weight", module.b);
        trainable_.emplace_back(prefix + ".adapter.up.bias", module.up_bias);
      }
      continue;
    }
    Delta delta;
    delta.numel = candidate.numel();
    if (tuning == Tuning::Full) {
      delta.values = trainable_like(torch::zeros({delta.numel}), like);
    } else {
      const torch::Tensor& indices = plan_.tuned.at(candidate.name).indices;
      delta.indices = indices.to(like.device());
      delta.values = trainable_like(torch::zeros({indices.numel()}), like);
      if (candidate.is_matrix()) {
        const std::int64_t in = candidate.shape[1];
        delta.rows = delta.indices.div(in, "floor");
        delta.cols = delta.indices.remainder(in);
      }
    }
    trainable_.emplace_back(candidate.name + ".delta", delta.values);
    if (candidate.is_norm) {
      (candidate.is_bias ? norms_[key].bias : norms_[key].weight) = delta;
    } else {
      (candidate.is_bias ? linears_[key].bias : linears_[key].weight) = delta;
    }
  }
}

torch::Tensor Spt::tokens(const torch::Tensor& x) {
  if (!class_token_.defined()) return x;
  return torch::cat({x.narrow(1, 0, 1) + class_token_, x.narrow(1, 1, x.size(1) - 1)}, 1);
}

torch::Tensor Spt::block_input(std::int64_t block, const torch::Tensor& x) {
  (void)block;
  shared_source_ = shared_dropped_ = torch::Tensor();
  return x;
}

torch::Tensor Spt::final_tokens(const torch::Tensor& x) {
  shared_source_ = shared_dropped_ = torch::Tensor();
  return x;
}

torch::Tensor Spt::norm(std::int64_t block, model::NormSite site, const torch::Tensor& input,
                        const torch::Tensor& output) {
  const auto found = norms_.find({block, int(site)});
  if (found == norms_.end()) return output;
  // LayerNorm(x; γ + Δγ, β + Δβ) = LayerNorm(x; γ, β) + x̂·Δγ + Δβ.
  const NormTuning& tuning = found->second;
  torch::Tensor y = output;
  if (tuning.weight.values.defined()) {
    const torch::Tensor normalized = torch::layer_norm(input, {input.size(-1)}, {}, {}, ln_eps_);
    y = y + normalized * tuning.weight.dense();
  }
  if (tuning.bias.values.defined()) y = y + tuning.bias.dense();
  return y;
}

torch::Tensor Spt::add_sparse_product(const Delta& delta, const torch::Tensor& input,
                                      const torch::Tensor& output) const {
  const std::int64_t in = input.size(-1), out = output.size(-1);
  if (delta.values.numel() <= in) {
    // y[..., row] += δ · x[..., col] for each selected (row, col): keeps
    // tokens × k values for the backward pass.
    // (Under bf16 autocast the product promotes to the fp32 of the values.)
    const torch::Tensor picked = input.index_select(-1, delta.cols) * delta.values;
    return output.index_add(output.dim() - 1, delta.rows, picked.to(output.scalar_type()));
  }
  // Many entries: a dense delta matrix keeps tokens × in and out × in instead.
  return output + torch::linear(input, delta.dense().view({out, in}));
}

torch::Tensor Spt::lora_input(std::int64_t block, Site site, const torch::Tensor& input) {
  (void)block;
  if (site == Site::O) return input;
  if (site == Site::Q || site == Site::K || site == Site::V) {
    // One dropout sample for the three, as SPT drops out the block input once.
    if (!shared_source_.defined() || !shared_source_.is_same(input)) {
      shared_source_ = input;
      shared_dropped_ = torch::dropout(input, dropout_, training());
    }
    return shared_dropped_;
  }
  return torch::dropout(input, dropout_, training());
}

torch::Tensor Spt::linear(std::int64_t block, Site site, const torch::Tensor& input,
                          const torch::Tensor& output) {
  if (site == Site::Mlp) return output;
  const auto found = linears_.find({block, int(site)});
  if (found == linears_.end()) return output;
  const LinearTuning& tuning = found->second;
  torch::Tensor y = output;
  if (tuning.weight.values.defined()) y = add_sparse_product(tuning.weight, input, y);
  if (tuning.bias.values.defined()) y = y + tuning.bias.dense();
  const Module& module = tuning.module;
  if (!module.a.defined()) return y;
  torch::Tensor branch;
  if (structure_ == spt::Structure::LoRA) {
    branch = torch::linear(torch::linear(lora_input(block, site, input), module.a), module.b);
  } else {
    // Sequential on the output, except proj: parallel, on its input, undropped.
    const torch::Tensor source = site == Site::O ? input : torch::dropout(y, dropout_, training());
    branch = torch::linear(torch::gelu(torch::linear(source, module.a, module.down_bias)), module.b,
                           module.up_bias);
  }
  return y + model::drop_path(branch, drop_path_, training());
}

void Spt::merge_into(model::VisionTransformer& vit) const {
  if (structure_ == spt::Structure::Adapter) {
    refuse_merge("its adapters have a GELU between their two linears: the update is not linear");
  }
  const model::VitConfig& c = vit->config();
  if (class_token_.defined() && c.norm_pre) {
    refuse_merge("its class-token delta is added after norm_pre, which no weight can hold");
  }
  torch::NoGradGuard no_grad;
  // tokens() adds the delta after the position embedding: the same sum.
  if (class_token_.defined()) vit->cls_token.add_(class_token_);
  for (const spt::Candidate& candidate : spt::candidates(c)) {
    const Delta* delta = nullptr;
    const Module* module = nullptr;
    if (candidate.is_norm) {
      // LayerNorm(x; γ + Δγ, β + Δβ) is what norm() computes.
      const auto found = norms_.find({candidate.block, int(candidate.norm)});
      if (found == norms_.end()) continue;
      delta = candidate.is_bias ? &found->second.bias : &found->second.weight;
    } else {
      const auto found = linears_.find({candidate.block, int(candidate.site)});
      if (found == linears_.end()) continue;
      delta = candidate.is_bias ? &found->second.bias : &found->second.weight;
      if (!candidate.is_bias) module = &found->second.module;
    }
    torch::Tensor target = candidate.value(*vit);
    if (delta->values.defined()) target.add_(delta->dense().view_as(target));
    // DropPath and dropout are the identity at inference.
    if (module && module->a.defined()) target.add_(torch::matmul(module->b, module->a));
  }
}

bool Spt::is_lora_b(const std::string& name) const {
  return ends_with(name, ".lora.B");
}

}  // namespace vpet::peft
