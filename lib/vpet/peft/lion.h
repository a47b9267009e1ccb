// LION: implicit vision prompt tuning (Wang et al., AAAI 2024;
// reference/lion-pgn-memory.md §3). Two deep-equilibrium layers act as
// prompts at the two ends of the frozen backbone:
//
//   input (pixel space, the default)   z* = σ(GN(Conv3×3(z*; W_z) + Conv3×3(x; U) + b))
//                                      x̃ = x + Conv1×1(z*; V)       before the patch embedding
//   input (token space)                z* = σ(z* W_zᵀ + t Uᵀ + b)    per token t after the
//                                      t̃ = t + z* Vᵀ                 position embedding
//   output (pooled feature h)          u* = σ(u* W_uᵀ + h Uᵀ + b)
//                                      h̃ = h + u* Vᵀ                 before the head
//
// With output_from "image" the output layer is driven by the image instead
// of h (a reading of the paper's data flow, which third-party notes give as
// image-driven): u* = σ(u* W_uᵀ + ē Uᵀ + b), ē the mean over the patches of
// the frozen patch embedding of the un-prompted input; h̃ = h + u* Vᵀ still.
//
// The paper's f, widths, solver, gradient and pruning schedule are not
// public: every choice below is an option (the spec's §3.2 design). The
// recurrent weight is kept contractive: spectral (scaled to Lipschitz ρ
// when its spectral norm, for a 3×3 convolution bounded by 3‖W‖₂, exceeds
// ρ) or weight normalisation (always scaled to ρ, by the Frobenius norm);
// with a 1-Lipschitz σ and no GroupNorm, f is then a contraction. The
// prompt projections V start at zero, so LION starts as the frozen model.
//
// Pruning (the lottery ticket): the layers' weights (W_z, U, V; not biases
// or norms) can carry fixed 0/1 masks, applied in the forward pass, so a
// pruned weight stays exactly zero and gets no update. Masks are the
// method's structure (bundle tensors "structure.mask.<name>"), written by
// lion-prune and given back to training with peft-train --mask. The
// parameter count is then the non-zeros. Variant B (thresholded
// regularisation, single run): every step, in each weight, the
// prune_sparsity fraction of smallest |w| (as lion-prune --scope layer
// would choose them) get an extra gradient prune_reg·sign(w); when training
// ends they are zeroed and masked.
//
// Config keys (defaults): input ("pixel" | "token" | "none"; pixel), output
// (true), output_from ("feature" | "image"; feature), channels (8: pixel state), token_width (64),
// width (256: output state), activation ("tanh" | "relu"; tanh), contraction ("spectral" |
// "weight"; spectral), lipschitz (0.9), groupnorm (false; pixel state,
// the most groups up to 4 that divide the channels), solver ("anderson" |
// "broyden" | "fixed"), tol
// (1e-3), max_iter (30), grad ("ift" | "phantom:K"; ift), tau (0.5),
// backward_tol (1e-6), backward_max_iter (40), prune_reg (0: off),
// prune_sparsity (0.5), all under the prefix "lion_".
// Trainable: "<layer>.recurrent.weight", "<layer>.injection.{weight,bias}",
// "<layer>.prompt.weight", "<layer>.norm.{weight,bias}" (GroupNorm), with
// <layer> "input" or "output".
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "vpet/peft/deq.h"
#include "vpet/peft/method.h"
#include "vpet/peft/method_option.h"

namespace vpet::peft {

class Lion final : public Method {
 public:
  explicit Lion(const nlohmann::json& config);
  // The options peft-train offers for it (method_option.h).
  static const MethodOptions& options();

  std::string name() const override { return "lion"; }
  nlohmann::json config() const override;
  void attach(model::VisionTransformer& vit, torch::Generator& generator) override;
  NamedTensors trainable() const override;
  // The image-driven output layer reads the pixels, so features cannot be
  // cached either.
  bool changes_backbone_features() const override {
    return input_ != Input::None || output_from_image_;
  }
  NamedTensors structure() const override;
  void restore_structure(const NamedTensors& tensors) override;
  void load(const NamedTensors& tensors) override;
  std::int64_t parameter_count() const override;
  void before_step() override;
  void finish_training() override;
  nlohmann::json diagnostics() const override;

  torch::Tensor pixels(const torch::Tensor& x) override;
  torch::Tensor tokens(const torch::Tensor& x) override;
  torch::Tensor pooled(const torch::Tensor& feature) override;
  void merge_into(model::VisionTransformer& vit) const override {
    (void)vit;
    refuse_merge(
        "its implicit layers are equilibria solved at run time, not linear maps on a weight of the "
        "ViT");
  }

  // The weights lion-prune prunes: every layer's W_z, U and V, by name.
  NamedTensors prunable() const;
  // Whether a trainable tensor's name is one of those.
  static bool is_prunable(const std::string& name);
  // "mask.<weight name>": how masks are named among the structure tensors.
  static constexpr const char* kMaskPrefix = "mask.";
  // Masks by prunable name (1 keeps, 0 prunes); those without stay dense.
  void set_masks(const std::map<std::string, torch::Tensor>& masks);

 private:
  enum class Input { Pixel, Token, None };
  // One implicit layer: its tensors and the last solve's statistics.
  struct Layer {
    std::string name;  // "input" or "output"
    bool convolutional = false;
    torch::Tensor recurrent, injection, injection_bias, prompt, norm_weight, norm_bias;
    DeqStats stats;
    bool solved = false;  // stats are from a solve of this step
  };

  torch::Tensor masked(const std::string& name, const torch::Tensor& weight) const;
  // Variant B: per weight, the mask that prunes the lion_prune_sparsity
  // fraction of smallest |w| (earlier masks included).
  std::map<std::string, torch::Tensor> prune_targets() const;
  torch::Tensor contractive(const Layer& layer) const;
  torch::Tensor activation(const torch::Tensor& x) const;
  // The layer's prompt for the input it is driven by.
  torch::Tensor prompt_of(Layer& layer, const torch::Tensor& drive);
  void zero_masked();
  NamedTensors layer_tensors(const Layer& layer) const;

  Input input_;
  bool output_;
  bool output_from_image_ = false;
  model::PatchEmbed patch_embed_{nullptr};  // the frozen one, for the image drive
  torch::Tensor image_drive_;               // this batch's, from pixels()
  std::int64_t channels_, token_width_, width_;
  bool relu_, spectral_, groupnorm_;
  double lipschitz_;
  DeqOptions deq_;
  double prune_reg_, prune_sparsity_;
  std::vector<Layer> layers_;  // the input layer first, when there is one
  std::map<std::string, torch::Tensor> masks_;
};

}  // namespace vpet::peft
