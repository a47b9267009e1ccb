// Prompt Generation Networks (Loedeman et al.; reference/lion-pgn-memory.md
// §1): a small network g_θ (pgn_generator.h) reads each image and mixes a
// learned token library L [N, D] into K input-dependent prompts,
//
//   w = softmax over N of g_θ(resize(x, S)) reshaped [K, N];  P = w · L  [K, D]
//
// where resize(x, S) brings the shorter side to S and keeps the aspect, as
// the released code's torchvision.transforms.functional.resize(images, S)
// does (pgn/pgn_models/tlpgn.py; bilinear, no antialiasing for tensors in
// its torchvision 0.13).
//
// appended after the patch tokens, after the position embedding (prompts
// get none; a model with norm_pre passes them through it, as CLIP's ln_pre).
// After the last block they are removed again, so pooling sees the model's
// own layout.
//
// Deployment in pixel space (pgn-invert): the library is inverted through
// the patch embedding, Q_n = W⁺(L_n − b) [N, C, p, p]; the mixture is then
// formed in pixel units and goes through the model's own, unmodified patch
// embedding as K extra patches. Because Σw = 1 this gives the latent
// prompts exactly when W has full row rank (D ≤ C·p²).
//
// The input-independent baseline (IIP, "--pgn-fixed"): K learned prompts
// [K, D], N(0, 0.02²), appended the same way, no generator.
//
// Config keys: pgn_prompts (K; 16), pgn_library (N; 128), pgn_fixed
// (false), pgn_input_size (S, the generator's input side; 224),
// pgn_pixels (false; set by pgn-invert: the library is in pixel space).
// Trainable: "generator.<name>" (g_θ's parameters) and "library" [N, D]
// ("pixel_library" [N, C, p, p] in pixel space), or "prompts" [K, D].
// pgn_rgb8 (false; set by pgn-invert --rgb8): the client sends each image's
// mixed prompt patches as 8-bit RGB, so they are clipped to [0, 1] and
// rounded to 1/255 after the mixing, per image, before the patch embedding.
// Structure: g_θ's BatchNorm statistics, "generator.<buffer>", and in pixel
// space pgn-invert's 8-bit RGB patches "pixel_library_rgb8" [N, p, p, C]
// (uint8, for users to look at; the method uses "pixel_library"); with
// pgn_rgb8, "pixel_mean" and "pixel_std" [C], the normalisation between RGB
// and the model's input. Parameter count: 307,312 + 129·K·N + N·D.
#pragma once

#include <array>
#include <cstdint>

#include "vpet/peft/method.h"
#include "vpet/peft/method_option.h"
#include "vpet/peft/pgn_generator.h"

namespace vpet::peft {

// The generator's input [height', width'] for an image of height × width:
// the shorter side `side`, the longer int(side · longer / shorter).
std::array<std::int64_t, 2> generator_input_size(std::int64_t height, std::int64_t width,
                                                 std::int64_t side);

class Pgn final : public Method {
 public:
  explicit Pgn(const nlohmann::json& config);
  // The options peft-train offers for it (method_option.h).
  static const MethodOptions& options();

  std::string name() const override { return "pgn"; }
  nlohmann::json config() const override;
  void attach(model::VisionTransformer& vit, torch::Generator& generator) override;
  NamedTensors trainable() const override;
  NamedTensors structure() const override;
  void restore_structure(const NamedTensors& tensors) override;
  bool is_prompt(const std::string& name) const override;
  void set_training(bool training) override;
  // With pgn_rgb8: the largest |prompt sent − exact prompt| of the
  // embedded prompts over every image so far.
  nlohmann::json diagnostics() const override;

  torch::Tensor pixels(const torch::Tensor& x) override;
  torch::Tensor tokens(const torch::Tensor& x) override;
  torch::Tensor final_tokens(const torch::Tensor& x) override;
  void merge_into(model::VisionTransformer& vit) const override {
    (void)vit;
    refuse_merge(
        "its prompts are generated from each image's pixels and appended to the sequence, which no "
        "weight of the plain ViT can do");
  }

 private:
  // The prompts of the images last seen by pixels(): [B, K, D].
  torch::Tensor prompts(std::int64_t batch);

  std::int64_t count_, library_size_, input_size_;
  bool fixed_, pixel_space_;
  PgnGenerator generator_{nullptr};
  torch::Tensor library_;      // [N, D], or [N, C, p, p] in pixel space, or the fixed [K, D]
  torch::Tensor weights_;      // [B, K, N] of the current batch
  NamedTensors statistics_;    // BatchNorm statistics given before attach()
  torch::Tensor rgb8_;         // pgn-invert's 8-bit patches, kept for the bundle
  bool rgb8_prompts_ = false;  // each image's prompts sent as 8-bit RGB
  torch::Tensor pixel_mean_, pixel_std_;  // [C], from the bundle
  double sent_error_ = 0.0;
  torch::nn::LayerNorm norm_pre_{nullptr};
  torch::nn::Conv2d patch_embed_{nullptr};
};

}  // namespace vpet::peft
