// SPT's second stage (He et al., ICCV 2023; reference/spt-selfprompt-vpt.md
// §1.3): train what an allocation plan (spt_plan.h, made by spt-sensitivity)
// chose, on a frozen backbone:
//
//   module on a matrix W (spt-lora), in parallel, no α/r scaling:
//     y = W x + b + DropPath(B · A · Dropout(x))
//       A [r, in] kaiming_uniform(a=√5), B [out, r] zeros; q, k and v share
//       one dropout sample of their input; proj's input is not dropped out
//   module on a matrix W (spt-adapter), sequential on the output h = W x + b:
//     h' = h + DropPath(U · GELU(D · Dropout(h) + b_D) + b_U)
//       D [r, out] kaiming_uniform(a=√5), b_D U(±1/√out) (torch's Linear
//       default), U and b_U zeros; for proj SPT's code feeds the adapter
//       proj's input instead, undropped, and adds the result (parallel)
//   fully tuned vectors and sparse entries, as deltas on the frozen
//   tensors (W_eff = W + scatter(Ω, δ), δ zero-initialised)
//   the class token (a delta, likewise)
//
// DropPath here (module_drop_path, 0.1) is the modules' own per-sample
// stochastic depth, apart from the backbone's; Dropout is module_dropout
// (0.1). Both act only while training.
//
// Changes from SPT's code, all deliberate: LayerNorm entries the plan
// selects are trained (SPT counts them in the budget but never trains
// them); a sparse delta costs memory linear in its entries (SPT's
// sparse-grad linear builds a k×k product); a plan made for LoRA is not
// accepted by spt-adapter (SPT's supervised adapter script used LoRA plans).
// Sparse deltas on a weight are applied as a gather/scatter of the selected
// input columns when they are no more than the input width, else as a dense
// delta matrix: memory min(tokens·k, tokens·in + out·in), the same result.
//
// Config keys: plan (a plan file, or the plan's fields as config() records
// them), budget (choose the file's plan for this budget; needed when the
// file holds several), module_dropout (0.1), module_drop_path (0.1).
// check_backbone() refuses a plan made for another backbone. Structure: "sparse.<tensor>" index
// tensors. Trainable: "cls_token.delta" [1, 1, D]; "<tensor>.delta" for vectors and sparse entries;
// "<matrix>.lora.{A,B}" or "<matrix>.adapter.{down,up}.{weight,bias}" with <matrix> e.g.
// "blocks.3.attn.v". The count is the plan's.
#pragma once

#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "vpet/peft/method.h"
#include "vpet/peft/method_option.h"
#include "vpet/peft/spt_plan.h"

namespace vpet::peft {

class Spt final : public Method {
 public:
  Spt(spt::Structure structure, const nlohmann::json& config);
  // The options peft-train offers for it (method_option.h).
  static const MethodOptions& options();

  std::string name() const override;
  nlohmann::json config() const override;
  void check_backbone(const std::string& fingerprint) const override;
  NamedTensors structure() const override { return spt::plan_tensors(plan_); }
  void restore_structure(const NamedTensors& tensors) override;
  void attach(model::VisionTransformer& vit, torch::Generator& generator) override;
  NamedTensors trainable() const override { return trainable_; }
  bool is_prompt(const std::string& name) const override { return name == kClassToken; }
  // "<matrix>.lora.B" of spt-lora's modules.
  bool is_lora_b(const std::string& name) const override;

  const spt::Plan& plan() const { return plan_; }

  torch::Tensor tokens(const torch::Tensor& x) override;
  torch::Tensor block_input(std::int64_t block, const torch::Tensor& x) override;
  torch::Tensor final_tokens(const torch::Tensor& x) override;
  torch::Tensor norm(std::int64_t block, model::NormSite site, const torch::Tensor& input,
                     const torch::Tensor& output) override;
  torch::Tensor linear(std::int64_t block, model::Site site, const torch::Tensor& input,
                       const torch::Tensor& output) override;
  // spt-lora: every delta added to its tensor, B · A to its matrix, the
  // class token's delta to cls_token. spt-adapter is refused.
  void merge_into(model::VisionTransformer& vit) const override;

 private:
  static constexpr const char* kClassToken = "cls_token.delta";

  // A trained change to (part of) a frozen tensor.
  struct Delta {
    torch::Tensor values;      // [k] sparse or [numel] full; undefined: none
    torch::Tensor indices;     // sparse: flat indices; undefined when full
    torch::Tensor rows, cols;  // sparse on a matrix: indices split
    std::int64_t numel = 0;    // of the whole tensor
    // The delta as a dense vector of the tensor's size.
    torch::Tensor dense() const;
  };
  struct Module {
    torch::Tensor a, b;  // LoRA: A [r, in], B [out, r]; Adapter: down [r, out], up [out, r]
    torch::Tensor down_bias, up_bias;  // Adapter only
  };
  struct LinearTuning {
    Delta weight, bias;
    Module module;  // a undefined: none
  };
  struct NormTuning {
    Delta weight, bias;
  };
  using Key = std::pair<std::int64_t, int>;  // (block or -1, site)

  // output + input · ΔWᵀ for a sparse weight delta.
  torch::Tensor add_sparse_product(const Delta& delta, const torch::Tensor& input,
                                   const torch::Tensor& output) const;
  torch::Tensor lora_input(std::int64_t block, model::Site site, const torch::Tensor& input);

  spt::Structure structure_;
  nlohmann::json fields_;      // the plan's fields, before the structure is restored
  std::string plan_source_;    // the plan file's name, for messages
  std::string plan_made_for_;  // the backbone fingerprint the plan file names
  spt::Plan plan_;
  double dropout_, drop_path_;
  double ln_eps_ = 1e-6;
  torch::Tensor class_token_;
  std::map<Key, LinearTuning> linears_;
  std::map<Key, NormTuning> norms_;
  NamedTensors trainable_;
  // The dropped-out block input that q, k and v's LoRA share, within one
  // block (cleared at the next block's input and after the last block).
  torch::Tensor shared_source_, shared_dropped_;
};

}  // namespace vpet::peft
