#include "vpet/peft/lora.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "vpet/error.h"
#include "vpet/peft/parameter_init.h"
#include "vpet/peft/settings.h"
#include "vpet/strings.h"

namespace vpet::peft {
namespace {

using model::Site;

constexpr std::array<Site, 6> kTargetable = {Site::Q, Site::K,   Site::V,
                                             Site::O, Site::Fc1, Site::Fc2};

std::vector<std::string> site_names() {
  std::vector<std::string> names;
  for (Site site : kTargetable) names.push_back(model::site_name(site));
  return names;
}

}  // namespace

LoRA::LoRA(const nlohmann::json& config) : layers_(Settings(config)) {
  const Settings settings(config);
  rank_ = settings.integer("rank", 8, 1);
  alpha_ = settings.number("alpha", double(rank_), 0.0, std::numeric_limits<double>::infinity());
  if (alpha_ == 0.0) throw UsageError("--alpha must be > 0");
  rank_stabilised_ = settings.choice("lora_scale", "standard", {"standard", "rs"}) == "rs";
  dropout_ = settings.number("lora_dropout", 0.1, 0.0, 1.0);
  const auto names = site_names();
  for (const auto& target : settings.choices("targets", {"q", "v"}, names)) {
    targeted_[std::size_t(std::find(names.begin(), names.end(), target) - names.begin())] = true;
  }
}

const MethodOptions& LoRA::options() {
  static const MethodOptions table = {
      {"rank", "rank", MethodOption::Type::Integer, "8", "LoRA: rank r", "R"},
      {"alpha", "alpha", MethodOption::Type::Number, "",
       "LoRA: scale alpha, the update scaled by alpha/r (default: the rank, scale 1)", "A"},
      {"lora-scale",
       "lora_scale",
       MethodOption::Type::Text,
       "standard",
       "LoRA: standard (alpha/r) or rs (rsLoRA's alpha/sqrt(r), peft's use_rslora)",
       "SCALE",
       {"standard", "rs"}},
      {"lora-dropout", "lora_dropout", MethodOption::Type::Number, "0.1",
       "LoRA: dropout on the LoRA input", "F"},
      {"targets", "targets", MethodOption::Type::List, "q,v",
       "LoRA: linears to adapt, from q,k,v,o,fc1,fc2", "LIST"},
      LayerSet::option(),
  };
  return table;
}

nlohmann::json LoRA::config() const {
  nlohmann::json targets = nlohmann::json::array();
  for (Site site : kTargetable) {
    if (targeted_[std::size_t(site)]) targets.push_back(model::site_name(site));
  }
  nlohmann::json config = {{"rank", rank_},
                           {"alpha", alpha_},
                           {"lora_scale", rank_stabilised_ ? "rs" : "standard"},
                           {"lora_dropout", dropout_},
                           {"targets", targets}};
  layers_.add_to(config);
  return config;
}

double LoRA::scale() const {
  return rank_stabilised_ ? alpha_ / std::sqrt(double(rank_)) : alpha_ / double(rank_);
}

void LoRA::attach(model::VisionTransformer& vit, torch::Generator& generator) {
  const std::int64_t width = vit->config().width, hidden = vit->config().mlp_hidden;
  layers_.check(vit->config().depth);
  blocks_.assign(std::size_t(vit->config().depth), {});
  for (std::int64_t block : layers_.blocks(vit->config().depth)) {
    auto& factors = blocks_[std::size_t(block)];
    for (Site site : kTargetable) {
      if (!targeted_[std::size_t(site)]) continue;
      const std::int64_t in = site == Site::Fc2 ? hidden : width;
      const std::int64_t out = site == Site::Fc1 ? hidden : width;
      factors[std::size_t(site)] = {
          trainable_like(linear_weight(rank_, in, generator), vit->pos_embed),
          trainable_like(torch::zeros({out, rank_}), vit->pos_embed)};
    }
  }
}

const LoRA::Factors* LoRA::factors(std::int64_t block, Site site) const {
  if (site == Site::Mlp) return nullptr;
  const Factors& found = blocks_[std::size_t(block)][std::size_t(site)];
  return found.a.defined() ? &found : nullptr;
}

std::vector<std::pair<std::int64_t, Site>> LoRA::adapted() const {
  std::vector<std::pair<std::int64_t, Site>> pairs;
  for (std::size_t i = 0; i < blocks_.size(); ++i) {
    for (Site site : kTargetable) {
      if (factors(std::int64_t(i), site)) pairs.emplace_back(std::int64_t(i), site);
    }
  }
  return pairs;
}

std::string LoRA::tensor_name(std::int64_t block, Site site, const std::string& part) {
  return "blocks." + std::to_string(block) + ".lora_" + model::site_name(site) + "." + part;
}

NamedTensors LoRA::trainable() const {
  NamedTensors tensors;
  for (const auto& [block, site] : adapted()) {
    tensors.emplace_back(tensor_name(block, site, "A"), factors(block, site)->a);
    tensors.emplace_back(tensor_name(block, site, "B"), factors(block, site)->b);
  }
  return tensors;
}

bool LoRA::is_lora_b(const std::string& name) const {
  return ends_with(name, ".B");
}

torch::Tensor LoRA::linear(std::int64_t block, Site site, const torch::Tensor& input,
                           const torch::Tensor& output) {
  const Factors* lora = factors(block, site);
  if (!lora) return output;
  const torch::Tensor x = torch::dropout(input, dropout_, training());
  return output + scale() * torch::linear(torch::linear(x, lora->a), lora->b);
}

void LoRA::merge_into(model::VisionTransformer& vit) const {
  torch::NoGradGuard no_grad;
  for (const auto& [block, site] : adapted()) {
    const Factors* lora = factors(block, site);
    vit->blocks.at(std::size_t(block))
        ->weight_of(site)
        .add_(torch::matmul(lora->b, lora->a), scale());
  }
}

}  // namespace vpet::peft
