// The preprocessing between a decoded image and a ViT's input tensor, reproducing what
// torchvision's transforms do to a PIL image, and its record in output headers.
#pragma once

#include <array>
#include <string>

#include <nlohmann/json.hpp>

#include "vpet/image/image.h"
#include "vpet/image/resample.h"

namespace vpet::image {

enum class ResizeMode {
  squash,  // Resize((size, size)): aspect ratio not kept (VTAB PEFT repos, HF ViT)
  crop,    // Resize(floor(size / crop_fraction)) + CenterCrop(size) (timm, torchvision)
};

std::string to_string(ResizeMode mode);

struct Normalization {
  std::array<float, 3> mean;
  std::array<float, 3> std;
};

// Named normalisations: "imagenet", "inception" (0.5/0.5), "clip", "none" (0/1).
Normalization normalization_named(const std::string& name, const std::string& option);

// Defaults: the VTAB-1k convention of the PEFT papers' code (squash to 224
// with bicubic interpolation, ImageNet normalisation: NOAH's loader, which SPT
// and Self-Prompt use, Resize((224, 224), interpolation=3)).
struct Preprocess {
  int size = 224;
  ResizeMode resize = ResizeMode::squash;
  double crop_fraction = 0.875;  // crop only; timm's crop_pct, in (0, 1]
  Interp interp = Interp::bicubic;
  std::array<float, 3> mean{0.485f, 0.456f, 0.406f};
  std::array<float, 3> std{0.229f, 0.224f, 0.225f};
  int channels = 3;  // the model's input channels: 1 or 3
};

// Throws vpet::UsageError unless size >= 1, 0 < crop_fraction <= 1, every std > 0 and
// finite, and channels is 1 or 3.
void validate(const Preprocess& preprocess);

// Resizes (and crops) to size x size. With channels == 1 an RGB image is first made gray
// like convert("L"), as a PyTorch user opening images for a gray model would; otherwise the
// image keeps its own channel count (a gray image stays 1 channel; normalize replicates it).
Image apply_geometry(const Image& image, const Preprocess& preprocess);

// Writes preprocess.channels x height x width floats: (u8 / 255.0f - mean) / std in float32,
// the operations of ToTensor + Normalize in their order. A 1-channel image feeding three
// channels is replicated; a 3-channel image feeding one is made gray first. A 1-channel
// model uses mean[0] and std[0].
void normalize(const Image& image, const Preprocess& preprocess, float* out_chw);

// Parsers for option values; each throws vpet::UsageError naming `option`.
ResizeMode parse_resize_mode(const std::string& value, const std::string& option);
Interp parse_interp(const std::string& value, const std::string& option);
std::array<float, 3> parse_triple(const std::string& value, const std::string& option);

// {"size", "resize", "crop_fraction", "interp", "mean", "std", "channels"}; mean and std
// are written as the shortest decimals that read back as the same floats.
nlohmann::json to_json(const Preprocess& preprocess);
// The inverse, for a header read from a file: throws vpet::Error on a malformed record.
Preprocess preprocess_from_json(const nlohmann::json& record);

}  // namespace vpet::image
