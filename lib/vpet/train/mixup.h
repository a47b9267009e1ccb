// MixUp (Zhang et al., 2018) and CutMix (Yun et al., 2019) as timm applies
// them in its default batch mode (timm/data/mixup.py, class Mixup,
// _params_per_batch and _mix_batch; pytorch-image-models, as read at commit
// aa4b585):
//
//   - with probability `prob` a batch is mixed, else it is left as it is
//     (lam = 1);
//   - with both alphas > 0 the batch is a CutMix one with probability
//     switch_prob (timm's default 0.5), else a MixUp one; with one alpha > 0
//     it is always that one;
//   - lam ~ Beta(alpha, alpha) of the kind drawn;
//   - MixUp: x = lam·x + (1 − lam)·x.flip(0) (each image with the batch's
//     mirror image: the first with the last, ...);
//   - CutMix: rand_bbox's box (side ⌊H·√(1 − lam)⌋ by ⌊W·√(1 − lam)⌋ about a
//     uniform centre, clipped to the image) is pasted from x.flip(0), and lam
//     becomes 1 − box area / image area (correct_lam);
//   - the target is lam·y(labels) + (1 − lam)·y(labels.flip(0)), y the
//     one-hot with label smoothing ε (1 − ε + ε/C on the label, ε/C
//     elsewhere: mixup_target), and the loss the soft-target cross-entropy.
//
// The pixels mixed are the normalised ones, as timm's Mixup mixes the
// normalised batch (normalisation is affine per channel, so mixing before or
// after it gives the same image). Each batch's draw comes from (seed, epoch,
// step in the epoch) (image/augment_random.h), not from numpy's global
// stream. Unlike timm, an odd batch (an epoch's last) is allowed: its middle
// image is its own mirror and stays as it is.
#pragma once

#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>

namespace vpet::train {

struct MixupOptions {
  double mixup_alpha = 0.0;   // --mixup; 0: no MixUp
  double cutmix_alpha = 0.0;  // --cutmix; 0: no CutMix
  double prob = 1.0;          // --mixup-prob: of mixing a batch at all
  double switch_prob = 0.5;   // of CutMix when both are on (timm's default)

  bool active() const { return mixup_alpha > 0.0 || cutmix_alpha > 0.0; }
  // Throws vpet::UsageError naming the option: an alpha negative or not
  // finite, a probability outside [0, 1].
  void validate() const;
  // {"mixup", "cutmix", "prob", "switch_prob"}.
  nlohmann::json to_json() const;
};

// One batch's draw, before it meets the batch.
struct MixupDraw {
  bool mixed = false;              // false: the batch stays as it is (lam 1)
  bool cutmix = false;             // else MixUp
  double lam = 1.0;                // the Beta draw (CutMix corrects it to the box)
  int center_y = 0, center_x = 0;  // CutMix: rand_bbox's centre
};

// The draw of step `step` (0-based) of `epoch` for images of height x width.
MixupDraw draw_mixup(const MixupOptions& options, int height, int width, std::uint64_t seed,
                     std::int64_t epoch, std::int64_t step);

struct MixedBatch {
  torch::Tensor inputs;                         // [B, C, H, W]
  torch::Tensor targets;                        // [B, classes] float32, each row summing to 1
  double lam = 1.0;                             // the weight of each image's own label
  std::array<std::int64_t, 4> box{0, 0, 0, 0};  // CutMix: rows [0], [1]) × columns [2], [3])
};

// inputs [B, C, H, W] float, labels [B] int64 (on one device); smoothing in [0, 1).
MixedBatch mix_batch(const torch::Tensor& inputs, const torch::Tensor& labels,
                     const MixupDraw& draw, std::int64_t classes, double smoothing);

}  // namespace vpet::train
