#include "vpet/train/mixup.h"

#include <algorithm>
#include <cmath>

#include "vpet/error.h"
#include "vpet/image/augment_random.h"

namespace vpet::train {

void MixupOptions::validate() const {
  if (!(mixup_alpha >= 0.0 && std::isfinite(mixup_alpha))) {
    throw UsageError("--mixup must be a finite alpha >= 0 (0: off)");
  }
  if (!(cutmix_alpha >= 0.0 && std::isfinite(cutmix_alpha))) {
    throw UsageError("--cutmix must be a finite alpha >= 0 (0: off)");
  }
  if (!(prob >= 0.0 && prob <= 1.0)) throw UsageError("--mixup-prob must be in [0, 1]");
  if (!(switch_prob >= 0.0 && switch_prob <= 1.0)) {
    throw UsageError("the CutMix switch probability must be in [0, 1]");
  }
}

nlohmann::json MixupOptions::to_json() const {
  return {{"mixup", mixup_alpha},
          {"cutmix", cutmix_alpha},
          {"prob", prob},
          {"switch_prob", switch_prob}};
}

MixupDraw draw_mixup(const MixupOptions& options, int height, int width, std::uint64_t seed,
                     std::int64_t epoch, std::int64_t step) {
  MixupDraw draw;
  if (!options.active()) return draw;
  // Batches key their streams by -1 - step: samples' indices are >= 0.
  image::AugmentRandom random(seed, epoch, -1 - step);
  // _params_per_batch's draws, in its order.
  if (!(random.uniform(0.0, 1.0) < options.prob)) return draw;
  draw.mixed = true;
  if (options.mixup_alpha > 0.0 && options.cutmix_alpha > 0.0) {
    draw.cutmix = random.uniform(0.0, 1.0) < options.switch_prob;
  } else {
    draw.cutmix = options.cutmix_alpha > 0.0;
  }
  draw.lam = random.symmetric_beta(draw.cutmix ? options.cutmix_alpha : options.mixup_alpha);
  if (draw.cutmix) {
    // rand_bbox with margin 0: np.random.randint(0, H), then (0, W).
    draw.center_y = random.integer(0, height);
    draw.center_x = random.integer(0, width);
  }
  return draw;
}

namespace {

// timm's one_hot with label smoothing: 1 - ε + ε/C on the label, ε/C elsewhere.
torch::Tensor smoothed_one_hot(const torch::Tensor& labels, std::int64_t classes,
                               double smoothing) {
  const double off = smoothing / double(classes);
  return torch::full({labels.size(0), classes}, off,
                     torch::TensorOptions().dtype(torch::kFloat32).device(labels.device()))
      .scatter_(1, labels.view({-1, 1}), 1.0 - smoothing + off);
}

}  // namespace

MixedBatch mix_batch(const torch::Tensor& inputs, const torch::Tensor& labels,
                     const MixupDraw& draw, std::int64_t classes, double smoothing) {
  MixedBatch out;
  out.inputs = inputs;
  if (draw.mixed && draw.lam != 1.0) {
    const torch::Tensor mirror = inputs.flip(0);
    if (draw.cutmix) {
      // rand_bbox and cutmix_bbox_and_lam (correct_lam).
      const std::int64_t height = inputs.size(2), width = inputs.size(3);
      const double ratio = std::sqrt(1.0 - draw.lam);
      const auto cut_h = std::int64_t(double(height) * ratio);
      const auto cut_w = std::int64_t(double(width) * ratio);
      const auto clip = [](std::int64_t v, std::int64_t high) {
        return std::clamp<std::int64_t>(v, 0, high);
      };
      out.box = {clip(draw.center_y - cut_h / 2, height), clip(draw.center_y + cut_h / 2, height),
                 clip(draw.center_x - cut_w / 2, width), clip(draw.center_x + cut_w / 2, width)};
      const std::int64_t area = (out.box[1] - out.box[0]) * (out.box[3] - out.box[2]);
      out.lam = 1.0 - double(area) / double(height * width);
      out.inputs = inputs.clone();
      using torch::indexing::Slice;
      const auto rows = Slice(out.box[0], out.box[1]), columns = Slice(out.box[2], out.box[3]);
      out.inputs.index_put_({Slice(), Slice(), rows, columns},
                            mirror.index({Slice(), Slice(), rows, columns}));
    } else {
      out.lam = draw.lam;
      out.inputs = inputs * draw.lam + mirror * (1.0 - draw.lam);
    }
  }
  const torch::Tensor own = smoothed_one_hot(labels, classes, smoothing);
  out.targets = own * out.lam + own.flip(0) * (1.0 - out.lam);
  return out;
}

}  // namespace vpet::train
