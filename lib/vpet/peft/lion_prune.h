// Magnitude pruning of a LION bundle's implicit layers (the lottery ticket,
// reference/lion-pgn-memory.md §3.2): the smallest |w| of the layers'
// weights (W_z, U, V; not biases or norms) are set to zero and masked, so
// that training with the masks (peft-train --mask) keeps them at zero.
//
// The sparsity is the fraction of those weights that are zero afterwards,
// counting weights an earlier round pruned (which stay pruned): iterative
// pruning asks for a growing sparsity each round. It is exact: ties in |w|
// are broken by position, earlier pruned weights first.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>

#include "vpet/peft/bundle.h"

namespace vpet::peft {

// One ranking over all the weights, or one per weight matrix (the default:
// a global ranking can prune a small tensor away, e.g. a prompt projection
// that started at zero).
enum class PruneScope { Global, Layer };
PruneScope parse_prune_scope(const std::string& name, const std::string& option);

struct PruneReport {
  std::int64_t weights = 0;  // prunable entries
  std::int64_t pruned = 0;   // of them now zero and masked
  std::int64_t newly_pruned = 0;
};

// The 0/1 mask (uint8, shaped like `weight`) that prunes the `count`
// entries of smallest |w|, those already pruned (`kept` == 0) first, ties by
// position.
torch::Tensor smallest_pruned(const torch::Tensor& weight, const torch::Tensor& kept,
                              std::int64_t count);

// Prunes `bundle` (a lion bundle) in place: zeroes the weights and writes
// the masks into its structure. Throws vpet::Error for another method's
// bundle or a sparsity below what is already pruned.
PruneReport prune_lion_bundle(Bundle& bundle, double sparsity, PruneScope scope);

}  // namespace vpet::peft
