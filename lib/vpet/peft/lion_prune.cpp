#include "vpet/peft/lion_prune.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "vpet/error.h"
#include "vpet/io/tensor_text.h"
#include "vpet/peft/lion.h"

namespace vpet::peft {

PruneScope parse_prune_scope(const std::string& name, const std::string& option) {
  if (name == "global") return PruneScope::Global;
  if (name == "layer") return PruneScope::Layer;
  throw UsageError(option + ": '" + name + "' is not global or layer");
}

torch::Tensor smallest_pruned(const torch::Tensor& weight, const torch::Tensor& kept,
                              std::int64_t count) {
  // Rank by |w|, with the entries pruned before ranked lowest (-1).
  const torch::Tensor magnitude = weight.detach().abs().flatten().to(torch::kFloat64);
  const torch::Tensor keys =
      torch::where(kept.flatten().ne(0), magnitude, torch::full_like(magnitude, -1.0));
  const torch::Tensor order = std::get<1>(keys.sort(/*stable=*/true, 0, /*descending=*/false));
  torch::Tensor mask = torch::ones({keys.numel()}, torch::kUInt8);
  mask.index_fill_(0, order.narrow(0, 0, count), 0);
  return mask.view(weight.sizes());
}

PruneReport prune_lion_bundle(Bundle& bundle, double sparsity, PruneScope scope) {
  if (bundle.method != "lion") {
    throw Error("a " + bundle.method + " bundle: lion-prune prunes LION's implicit layers only");
  }
  if (!(sparsity >= 0.0 && sparsity <= 1.0)) throw UsageError("--sparsity must be in [0, 1]");
  const std::string prefix = Lion::kMaskPrefix;
  std::map<std::string, torch::Tensor> earlier;
  for (const auto& [name, mask] : bundle.structure) {
    if (name.rfind(prefix, 0) == 0) earlier[name.substr(prefix.size())] = mask.ne(0);
  }
  std::vector<std::pair<std::string, torch::Tensor*>> weights;
  for (auto& [name, tensor] : bundle.tensors) {
    if (Lion::is_prunable(name)) weights.emplace_back(name, &tensor);
  }
  if (weights.empty()) throw Error("the bundle holds no LION weights to prune");
  // Masks of an earlier round must each fit a weight exactly: a flattened
  // or stray mask would otherwise broadcast or be carried along unchecked.
  for (const auto& [name, kept] : earlier) {
    // A lambda cannot capture a structured binding before C++20 (clang refuses).
    const std::string& wanted = name;
    const auto weight = std::find_if(weights.begin(), weights.end(),
                                     [&](const auto& entry) { return entry.first == wanted; });
    if (weight == weights.end()) {
      throw Error("the mask '" + prefix + name + "' names no prunable LION weight of the bundle");
    }
    if (kept.sizes() != weight->second->sizes()) {
      throw Error("the mask '" + prefix + name + "' is " + io::shape_string(kept.sizes()) +
                  ", its weight " + io::shape_string(weight->second->sizes()));
    }
  }
  auto kept_of = [&](const std::string& name, const torch::Tensor& weight) {
    const auto found = earlier.find(name);
    return found != earlier.end() ? found->second : torch::ones(weight.sizes(), torch::kBool);
  };
  // How many of `numel` entries to prune, refusing to un-prune.
  auto count_for = [&](const torch::Tensor& kept, const std::string& where) {
    const std::int64_t numel = kept.numel();
    const std::int64_t already = numel - kept.sum().item<std::int64_t>();
    const auto count = std::int64_t(std::llround(sparsity * double(numel)));
    if (count < already) {
      char asked[32];
      std::snprintf(asked, sizeof asked, "%g", sparsity);
      throw Error(where + " already has " + std::to_string(already) + " of " +
                  std::to_string(numel) + " weights pruned, more than --sparsity " + asked +
                  " asks for");
    }
    return count;
  };
  std::map<std::string, torch::Tensor> masks;
  std::int64_t already = 0;
  if (scope == PruneScope::Global) {
    std::vector<torch::Tensor> values, kept;
    for (const auto& [name, weight] : weights) {
      values.push_back(weight->flatten());
      kept.push_back(kept_of(name, *weight).flatten());
    }
    const torch::Tensor all_kept = torch::cat(kept);
    already = all_kept.numel() - all_kept.sum().item<std::int64_t>();
    const torch::Tensor mask =
        smallest_pruned(torch::cat(values), all_kept, count_for(all_kept, "the bundle"));
    std::int64_t offset = 0;
    for (const auto& [name, weight] : weights) {
      masks[name] = mask.narrow(0, offset, weight->numel()).view(weight->sizes());
      offset += weight->numel();
    }
  } else {
    for (const auto& [name, weight] : weights) {
      const torch::Tensor kept = kept_of(name, *weight);
      already += kept.numel() - kept.sum().item<std::int64_t>();
      masks[name] = smallest_pruned(*weight, kept, count_for(kept, "'" + name + "'"));
    }
  }
  PruneReport report;
  NamedTensors structure;
  for (const auto& [name, tensor] : bundle.structure) {
    if (name.rfind(prefix, 0) != 0) structure.emplace_back(name, tensor);
  }
  for (const auto& [name, weight] : weights) {
    const torch::Tensor& mask = masks.at(name);
    *weight = *weight * mask.to(weight->dtype());
    structure.emplace_back(prefix + name, mask);
    report.weights += weight->numel();
    report.pruned += weight->numel() - mask.sum().item<std::int64_t>();
  }
  report.newly_pruned = report.pruned - already;
  bundle.structure = structure;
  return report;
}

}  // namespace vpet::peft
