#include "vpet/peft/pgn.h"

#include <algorithm>
#include <array>

#include "vpet/error.h"
#include "vpet/io/tensor_text.h"
#include "vpet/peft/parameter_init.h"
#include "vpet/peft/settings.h"

namespace vpet::peft {
namespace {

constexpr const char* kGeneratorPrefix = "generator.";
// pgn-invert's 8-bit RGB patches [N, p, p, C], for users; not used by the method.
constexpr const char* kRgb8 = "pixel_library_rgb8";
// pgn-invert --rgb8: the normalisation that maps 8-bit RGB to the model's input.
constexpr const char* kPixelMean = "pixel_mean";
constexpr const char* kPixelStd = "pixel_std";

}  // namespace

Pgn::Pgn(const nlohmann::json& config) {
  const Settings settings(config);
  count_ = settings.integer("pgn_prompts", 16, 1);
  library_size_ = settings.integer("pgn_library", 128, 1);
  fixed_ = settings.boolean("pgn_fixed", false);
  input_size_ = settings.integer("pgn_input_size", 224, 8);
  pixel_space_ = settings.boolean("pgn_pixels", false);
  if (fixed_ && pixel_space_) throw UsageError("fixed PGN prompts have no library to invert");
  rgb8_prompts_ = settings.boolean("pgn_rgb8", false);
  if (rgb8_prompts_ && !pixel_space_) {
    throw SettingError("pgn_rgb8", "--pgn-rgb8", "needs a pixel-space library (pgn_pixels)");
  }
}

const MethodOptions& Pgn::options() {
  static const MethodOptions table = {
      {"pgn-prompts", "pgn_prompts", MethodOption::Type::Integer, "16",
       "PGN: prompts per image (K)", "K"},
      {"pgn-library", "pgn_library", MethodOption::Type::Integer, "128",
       "PGN: tokens in the library (N)", "N"},
      {"pgn-fixed", "pgn_fixed", MethodOption::Type::Bool, "false",
       "PGN: the input-independent baseline (K learned prompts, no generator)", "BOOL"},
      {"pgn-input-size", "pgn_input_size", MethodOption::Type::Integer, "224",
       "PGN: side the generator resizes each image to", "S"},
  };
  return table;
}

nlohmann::json Pgn::config() const {
  return {{"pgn_prompts", count_},      {"pgn_library", library_size_},
          {"pgn_fixed", fixed_},        {"pgn_input_size", input_size_},
          {"pgn_pixels", pixel_space_}, {"pgn_rgb8", rgb8_prompts_}};
}

void Pgn::attach(model::VisionTransformer& vit, torch::Generator& generator) {
  const model::VitConfig& c = vit->config();
  const torch::Tensor& like = vit->pos_embed;
  norm_pre_ = vit->norm_pre;
  patch_embed_ = vit->patch_embed->proj;
  if (fixed_) {
    library_ = trainable_like(normal({count_, c.width}, 0.02, generator), like);
    return;
  }
  generator_ = PgnGenerator(c.in_chans, count_ * library_size_, generator);
  // The device, and the dtype of the floating tensors only: BatchNorm's
  // num_batches_tracked stays an integer count.
  generator_->to(like.device());
  for (auto& parameter : generator_->parameters())
    parameter.set_data(parameter.to(like.scalar_type()));
  for (auto& buffer : generator_->buffers()) {
    if (buffer.is_floating_point()) buffer.set_data(buffer.to(like.scalar_type()));
  }
  library_ = pixel_space_
                 ? trainable_like(
                       torch::zeros({library_size_, c.in_chans, c.patch_size, c.patch_size}), like)
                 : trainable_like(normal({library_size_, c.width}, 0.02, generator), like);
  if (!statistics_.empty()) {
    torch::NoGradGuard no_grad;
    // find() points into the dictionary: it must outlive the loop.
    const auto buffers = generator_->named_buffers();
    for (const auto& [name, value] : statistics_) {
      const torch::Tensor* target = buffers.find(name.substr(std::string(kGeneratorPrefix).size()));
      if (!target || target->sizes() != value.sizes()) {
        throw Error("the bundle's PGN statistic '" + name + "' does not fit the generator");
      }
      target->copy_(value);
    }
  }
  generator_->train(training());
  if (rgb8_prompts_) {
    const auto fits = [&](const torch::Tensor& t) {
      return t.defined() && t.dim() == 1 && t.size(0) == c.in_chans;
    };
    if (!fits(pixel_mean_) || !fits(pixel_std_) || !pixel_std_.gt(0).all().item<bool>()) {
      throw Error("8-bit PGN prompts need the structure tensors 'pixel_mean' and 'pixel_std' [" +
                  std::to_string(c.in_chans) + "], the std positive");
    }
    pixel_mean_ = pixel_mean_.to(like.device());
    pixel_std_ = pixel_std_.to(like.device());
  }
}

NamedTensors Pgn::trainable() const {
  if (fixed_) return {{"prompts", library_}};
  NamedTensors tensors;
  for (const auto& item : generator_->named_parameters()) {
    tensors.emplace_back(kGeneratorPrefix + item.key(), item.value());
  }
  tensors.emplace_back(pixel_space_ ? "pixel_library" : "library", library_);
  return tensors;
}

NamedTensors Pgn::structure() const {
  NamedTensors tensors;
  if (rgb8_.defined()) tensors.emplace_back(kRgb8, rgb8_);
  if (pixel_mean_.defined()) {
    tensors.emplace_back(kPixelMean, pixel_mean_);
    tensors.emplace_back(kPixelStd, pixel_std_);
  }
  if (!generator_) return tensors;
  for (const auto& item : generator_->named_buffers()) {
    tensors.emplace_back(kGeneratorPrefix + item.key(), item.value());
  }
  return tensors;
}

void Pgn::restore_structure(const NamedTensors& tensors) {
  statistics_.clear();
  for (const auto& [name, tensor] : tensors) {
    if (pixel_space_ && name == kRgb8) {
      rgb8_ = tensor;
    } else if (rgb8_prompts_ && (name == kPixelMean || name == kPixelStd)) {
      (name == kPixelMean ? pixel_mean_ : pixel_std_) = tensor.to(torch::kFloat32);
    } else if (!fixed_ && name.rfind(kGeneratorPrefix, 0) == 0) {
      statistics_.emplace_back(name, tensor);
    } else {
      throw Error("the bundle holds structure tensor '" + name + "', which pgn does not use");
    }
  }
}

bool Pgn::is_prompt(const std::string& name) const {
  return name == "prompts" || name == "library" || name == "pixel_library";
}

void Pgn::set_training(bool training) {
  Method::set_training(training);
  if (generator_) generator_->train(training);  // BatchNorm: batch statistics while training
}

torch::Tensor Pgn::pixels(const torch::Tensor& x) {
  if (fixed_) return x;
  torch::Tensor input = x;
  const auto size = generator_input_size(x.size(2), x.size(3), input_size_);
  if (x.size(2) != size[0] || x.size(3) != size[1]) {
    input =
        torch::nn::functional::interpolate(x, torch::nn::functional::InterpolateFuncOptions()
                                                  .size(std::vector<std::int64_t>{size[0], size[1]})
                                                  .mode(torch::kBilinear)
                                                  .align_corners(false));
  }
  weights_ = generator_->forward(input).view({x.size(0), count_, library_size_}).softmax(-1);
  return x;
}

torch::Tensor Pgn::prompts(std::int64_t batch) {
  if (fixed_) return library_.unsqueeze(0).expand({batch, -1, -1});
  if (!pixel_space_) return torch::matmul(weights_, library_);
  // Mix in pixel units, then the model's own patch embedding: K extra patches.
  const torch::Tensor mixed = torch::matmul(weights_, library_.flatten(1));  // [B, K, C·p·p]
  const auto patch = library_.sizes();
  const auto embed = [&](const torch::Tensor& patches) {
    return torch::conv2d(patches, patch_embed_->weight, patch_embed_->bias, patch[2])
        .view({batch, count_, -1});
  };
  const torch::Tensor exact = mixed.view({batch * count_, patch[1], patch[2], patch[3]});
  if (!rgb8_prompts_) return embed(exact);
  // What an 8-bit client sends: each image's K mixed patches as RGB, clipped
  // and rounded after the mixing, read back as the model's normalised input.
  const torch::Tensor mean = pixel_mean_.to(exact.scalar_type()).view({1, -1, 1, 1});
  const torch::Tensor spread = pixel_std_.to(exact.scalar_type()).view({1, -1, 1, 1});
  const torch::Tensor rgb8 = ((exact * spread + mean).clamp(0, 1) * 255.0).round();
  const torch::Tensor sent = embed((rgb8 / 255.0 - mean) / spread);
  sent_error_ =
      std::max(sent_error_, (sent - embed(exact)).abs().max().to(torch::kFloat64).item<double>());
  return sent;
}

nlohmann::json Pgn::diagnostics() const {
  if (!rgb8_prompts_) return nlohmann::json::object();
  return {{"pgn_rgb8_max_abs_error", sent_error_}};
}

torch::Tensor Pgn::tokens(const torch::Tensor& x) {
  torch::Tensor appended = prompts(x.size(0));
  if (norm_pre_) appended = norm_pre_->forward(appended);
  return torch::cat({x, appended}, 1);
}

torch::Tensor Pgn::final_tokens(const torch::Tensor& x) {
  if (x.size(1) == 1) return x;  // the class token alone; the prompts come last
  return x.narrow(1, 0, x.size(1) - count_);
}

std::array<std::int64_t, 2> generator_input_size(std::int64_t height, std::int64_t width,
                                                 std::int64_t side) {
  const std::int64_t shorter = std::min(height, width), longer = std::max(height, width);
  // torchvision's _compute_resized_output_size: int(size * long / short).
  const auto scaled = std::int64_t(double(side) * double(longer) / double(shorter));
  return height <= width ? std::array<std::int64_t, 2>{side, scaled}
                         : std::array<std::int64_t, 2>{scaled, side};
}

}  // namespace vpet::peft
