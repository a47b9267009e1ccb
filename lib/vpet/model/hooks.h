// The seam between the frozen ViT and the parameter-efficient methods
// (DESIGN §2): the named points of the forward pass where a method may act,
// and nothing else. The model knows no method; a method implements the
// points it needs and leaves the others as the identity.
//
//   pixels ─► patch embed ─► patches() ─► + prefix tokens, pos embed ─►
//     [norm_pre] ─► tokens() ─► for
//     each block i: block_input(i) ─► norm1 ─► q,k,v = linear(Q/K/V) ─►
//     attention(i): extra keys/values, mask ─► attend ─► linear(O) ─►
//     + residual ─► norm2 ─► linear(Fc1) ─► gelu ─► linear(Fc2) ─►
//     linear(Mlp) ─► + residual ─► block_output(i)
//   ─► final_tokens() ─► final norm ─► pool ─► [fc_norm] ─► pooled() ─► head
//
// Every LayerNorm in brackets or named above also passes through norm().
#pragma once

#include <torch/torch.h>

#include <cstdint>

namespace vpet::model {

class BlockImpl;

// The linear maps inside a block, plus the whole MLP as one site (adapters
// act beside or after it, not on one of its linears).
enum class Site { Q, K, V, O, Fc1, Fc2, Mlp };

const char* site_name(Site site);  // "q", "k", "v", "o", "fc1", "fc2", "mlp"

// The LayerNorms: each block's two, and the model's own (timm's norm_pre,
// the final norm, fc_norm), which exist depending on the model.
enum class NormSite { Norm1, Norm2, Pre, Final, Fc };

// timm's parameter prefix: "norm1", "norm2", "norm_pre", "norm", "fc_norm".
const char* norm_name(NormSite site);

// Keys, values and queries of one attention, heads not yet split: [B, N, D]
// each; k and v may be given more tokens than q (memory tokens).
struct AttentionInputs {
  torch::Tensor q, k, v;
  // Undefined, or broadcastable to [B, heads, N, M]: bool (true = may
  // attend) or an additive float mask.
  torch::Tensor mask;
};

class ForwardHooks {
 public:
  virtual ~ForwardHooks() = default;

  // [B, C, H, W] normalised pixels before the patch embedding (LION's input
  // layer; PGN's generator reads them).
  virtual torch::Tensor pixels(const torch::Tensor& x) { return x; }
  // [B, N, D] the patch embedding's output, before the prefix tokens and
  // the position embedding (SSF scales and shifts it).
  virtual torch::Tensor patches(const torch::Tensor& x) { return x; }
  // [B, T, D] after the position embedding (and norm_pre): the input of
  // block 0 (VPT-shallow inserts, PGN appends, memory adds task tokens).
  virtual torch::Tensor tokens(const torch::Tensor& x) { return x; }
  // The input of block i (VPT-deep replaces its prompts; called for every
  // block, block 0 after tokens()).
  virtual torch::Tensor block_input(std::int64_t block, const torch::Tensor& x) {
    (void)block;
    return x;
  }
  // After q, k, v are projected (and their linear() hooks ran): may append
  // keys and values and set the mask. `module` is the block itself (memory
  // tokens go through its norm1 and its k/v weights).
  virtual void attention(std::int64_t block, const BlockImpl& module, AttentionInputs& inputs) {
    (void)block, (void)module, (void)inputs;
  }
  // A linear map's (or the MLP's) output given its input: LoRA adds
  // B·A·input, adapters transform or add, SPT adds sparse deltas.
  virtual torch::Tensor linear(std::int64_t block, Site site, const torch::Tensor& input,
                               const torch::Tensor& output) {
    (void)block, (void)site, (void)input;
    return output;
  }
  // A LayerNorm's output given its input (SPT tunes norm weights and
  // biases). `block` is -1 for the model's own norms (Pre, Final, Fc).
  virtual torch::Tensor norm(std::int64_t block, NormSite site, const torch::Tensor& input,
                             const torch::Tensor& output) {
    (void)block, (void)site, (void)input;
    return output;
  }
  // The output of block i given `residual`, the stream after attention (the
  // MLP branch's input before norm2): AdaptFormer's released parallel adapter
  // reads it and adds its output here, outside the MLP's drop-path.
  virtual torch::Tensor block_output(std::int64_t block, const torch::Tensor& residual,
                                     const torch::Tensor& output) {
    (void)block, (void)residual;
    return output;
  }
  // [B, T, D] after the last block, before the final norm: a method that
  // added tokens may take them out again so pooling sees the original layout.
  // For a model that pools its class token, x is that token's row alone,
  // [B, 1, D], unless reads_all_final_tokens() (see OutputRows in vit.h).
  virtual torch::Tensor final_tokens(const torch::Tensor& x) { return x; }
  // Whether the method reads more of the last block's output than the
  // class token the model pools (a prompt-pooling head would): then the
  // last block computes every row.
  virtual bool reads_all_final_tokens() const { return false; }
  // [B, D] the pooled feature, before the head (LION's output layer).
  virtual torch::Tensor pooled(const torch::Tensor& feature) { return feature; }
};

// Stochastic depth while training (timm DropPath): block i's residual
// branches are dropped per sample with probability rate·i/(depth−1).
struct ForwardOptions {
  double drop_path = 0.0;
  bool training = false;
};

}  // namespace vpet::model
