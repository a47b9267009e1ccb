#include "vpet/cli/augment_options.h"

#include <cmath>
#include <cstdlib>
#include <string>

#include "vpet/error.h"

namespace vpet::cli {
namespace {

// "A,B" as two finite numbers.
std::array<double, 2> parse_pair(const std::string& text, const std::string& option) {
  const std::size_t comma = text.find(',');
  const auto number = [&](const std::string& part) {
    char* end = nullptr;
    const double value = std::strtod(part.c_str(), &end);
    if (part.empty() || *end != '\0' || !std::isfinite(value)) {
      throw UsageError(option + ": '" + text + "' is not two numbers A,B");
    }
    return value;
  };
  if (comma == std::string::npos) throw UsageError(option + ": '" + text + "' is not A,B");
  return {number(text.substr(0, comma)), number(text.substr(comma + 1))};
}

}  // namespace

void add_augment_options(cxxopts::Options& options) {
  // clang-format off
  options.add_options("Preprocessing")
    ("augment",
     "Train-time augmentation: none, crop-flip (VPT's FGVC: Resize, RandomCrop, flip) or "
     "rrc-flip (Self-Prompt's FGVC: RandomResizedCrop, flip)",
     cxxopts::value<std::string>()->default_value("none"),
     "PRESET")
    ("train-resize",
     "Random crop: resize the shorter side to N first (default: --img-size / --crop-fraction)",
     cxxopts::value<int>(),
     "N")
    ("random-crop",
     "Random crop of N x N, N the input size (crop-flip's)",
     cxxopts::value<int>(),
     "N")
    ("rrc-scale",
     "RandomResizedCrop's area fraction range",
     cxxopts::value<std::string>()->default_value("0.08,1"),
     "A,B")
    ("rrc-ratio",
     "RandomResizedCrop's aspect ratio range",
     cxxopts::value<std::string>()->default_value("0.75,1.3333333333333333"),
     "A,B")
    ("hflip",
     "Horizontal flip probability (default: 0.5 with a preset, else 0)",
     cxxopts::value<double>(),
     "P");
  // clang-format on
}

void add_mixup_options(cxxopts::Options& options) {
  // clang-format off
  options.add_options("Preprocessing")
    ("mixup",
     "MixUp's Beta(A, A) (timm's mixup_alpha; 0: off)",
     cxxopts::value<double>()->default_value("0"),
     "A")
    ("cutmix",
     "CutMix's Beta(A, A) (timm's cutmix_alpha; 0: off; with --mixup, half the mixed batches)",
     cxxopts::value<double>()->default_value("0"),
     "A")
    ("mixup-prob",
     "Probability of mixing a batch (timm's mixup_prob)",
     cxxopts::value<double>()->default_value("1"),
     "P");
  // clang-format on
}

image::Augment read_augment_options(const cxxopts::ParseResult& result,
                                    const image::Preprocess& preprocess) {
  using Crop = image::Augment::Crop;
  image::Augment augment;
  const std::string preset = result["augment"].as<std::string>();
  if (preset == "crop-flip") {
    augment.crop = Crop::kRandom;
  } else if (preset == "rrc-flip") {
    augment.crop = Crop::kRandomResized;
  } else if (preset != "none") {
    throw UsageError("--augment: '" + preset + "' is not one of none, crop-flip, rrc-flip");
  }
  augment.hflip = preset == "none" ? 0.0 : 0.5;
  const bool random_crop = result.count("train-resize") || result.count("random-crop");
  const bool resized_crop = result.count("rrc-scale") || result.count("rrc-ratio");
  if ((random_crop && augment.crop == Crop::kRandomResized) ||
      (resized_crop && augment.crop == Crop::kRandom) || (random_crop && resized_crop)) {
    throw UsageError(
        "a random crop (--train-resize, --random-crop) and a random resized crop (--rrc-scale, "
        "--rrc-ratio) exclude each other");
  }
  if (random_crop) augment.crop = Crop::kRandom;
  if (resized_crop) augment.crop = Crop::kRandomResized;
  if (result.count("random-crop") && result["random-crop"].as<int>() != preprocess.size) {
    throw UsageError("--random-crop " + std::to_string(result["random-crop"].as<int>()) +
                     " must be the input size " + std::to_string(preprocess.size) +
                     " (set both with --img-size)");
  }
  augment.resize = result.count("train-resize")
                       ? result["train-resize"].as<int>()
                       : static_cast<int>(std::floor(preprocess.size / preprocess.crop_fraction));
  augment.scale = parse_pair(result["rrc-scale"].as<std::string>(), "--rrc-scale");
  augment.ratio = parse_pair(result["rrc-ratio"].as<std::string>(), "--rrc-ratio");
  if (result.count("hflip")) augment.hflip = result["hflip"].as<double>();
  image::validate(augment, preprocess);
  return augment;
}

train::MixupOptions read_mixup_options(const cxxopts::ParseResult& result) {
  train::MixupOptions mixup;
  mixup.mixup_alpha = result["mixup"].as<double>();
  mixup.cutmix_alpha = result["cutmix"].as<double>();
  mixup.prob = result["mixup-prob"].as<double>();
  mixup.validate();
  if (result.count("mixup-prob") && !mixup.active()) {
    throw UsageError("--mixup-prob needs --mixup or --cutmix");
  }
  return mixup;
}

bool augment_options_given(const cxxopts::ParseResult& result) {
  for (const char* option : {"train-resize", "random-crop", "rrc-scale", "rrc-ratio", "hflip",
                             "mixup", "cutmix", "mixup-prob"}) {
    if (result.count(option)) return true;
  }
  return result["augment"].as<std::string>() != "none";
}

}  // namespace vpet::cli
