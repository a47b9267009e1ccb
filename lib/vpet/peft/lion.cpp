#include "vpet/peft/lion.h"

#include <cmath>
#include <cstdio>
#include <limits>

#include "vpet/error.h"
#include "vpet/io/tensor_text.h"
#include "vpet/peft/lion_prune.h"
#include "vpet/peft/parameter_init.h"
#include "vpet/peft/settings.h"

namespace vpet::peft {
namespace {

// A 3×3 convolution's operator norm is at most 3 times the spectral norm of
// its [out, in·9] weight matrix (the bound of Sedghi et al. / Gouk et al.).
constexpr double kConvNormBound = 3.0;

std::string format_residual(const SolveStats& stats, double tol) {
  char text[160];
  std::snprintf(text, sizeof text, "residual %.3g after %lld evaluations (tolerance %.3g)",
                stats.residual, static_cast<long long>(stats.evaluations), tol);
  return text;
}

}  // namespace

Lion::Lion(const nlohmann::json& config) {
  const Settings settings(config);
  const double inf = std::numeric_limits<double>::infinity();
  const std::string input = settings.choice("lion_input", "pixel", {"pixel", "token", "none"});
  input_ = input == "pixel" ? Input::Pixel : input == "token" ? Input::Token : Input::None;
  output_ = settings.boolean("lion_output", true);
  if (input_ == Input::None && !output_) {
    throw UsageError("--lion-input none and --lion-output=false leave LION nothing to train");
  }
  output_from_image_ =
      settings.choice("lion_output_from", "feature", {"feature", "image"}) == "image";
  if (output_from_image_ && !output_) {
    throw SettingError("lion_output_from", "--lion-output-from",
                       "image is for the output layer, which --lion-output=false turns off");
  }
  channels_ = settings.integer("lion_channels", 8, 1);
  token_width_ = settings.integer("lion_token_width", 64, 1);
  width_ = settings.integer("lion_width", 256, 1);
  relu_ = settings.choice("lion_activation", "tanh", {"tanh", "relu"}) == "relu";
  spectral_ = settings.choice("lion_contraction", "spectral", {"spectral", "weight"}) == "spectral";
  lipschitz_ = settings.positive("lion_lipschitz", 0.9);
  groupnorm_ = settings.boolean("lion_groupnorm", false);
  deq_.solver =
      parse_deq_solver(settings.choice("lion_solver", "anderson", {"anderson", "broyden", "fixed"}),
                       "--lion-solver");
  deq_.tol = settings.number("lion_tol", 1e-3, 0.0, inf);
  deq_.max_iter = settings.integer("lion_max_iter", 30, 1);
  parse_deq_gradient(settings.text("lion_grad", "ift"), "--lion-grad", deq_);
  deq_.phantom_tau = settings.fraction("lion_tau", 0.5);
  deq_.backward_tol = settings.number("lion_backward_tol", 1e-6, 0.0, inf);
  deq_.backward_max_iter = settings.integer("lion_backward_max_iter", 40, 1);
  prune_reg_ = settings.number("lion_prune_reg", 0.0, 0.0, inf);
  prune_sparsity_ = settings.number("lion_prune_sparsity", 0.5, 0.0, 1.0);
}

const MethodOptions& Lion::options() {
  static const MethodOptions table = {
      {"lion-input",
       "lion_input",
       MethodOption::Type::Text,
       "pixel",
       "LION: input layer in pixel or token space, or none",
       "WHERE",
       {"pixel", "token", "none"}},
      {"lion-output", "lion_output", MethodOption::Type::Bool, "true",
       "LION: output layer on the pooled feature (=false: none)", "BOOL"},
      {"lion-output-from",
       "lion_output_from",
       MethodOption::Type::Text,
       "feature",
       "LION: what drives the output layer: the pooled feature, or the image (its patch "
       "embedding's mean)",
       "FROM",
       {"feature", "image"}},
      {"lion-channels", "lion_channels", MethodOption::Type::Integer, "8",
       "LION: channels of the pixel-space state", "C"},
      {"lion-token-width", "lion_token_width", MethodOption::Type::Integer, "64",
       "LION: width of the token-space state", "D"},
      {"lion-width", "lion_width", MethodOption::Type::Integer, "256",
       "LION: width of the output layer's state", "D"},
      {"lion-activation",
       "lion_activation",
       MethodOption::Type::Text,
       "tanh",
       "LION: tanh or relu",
       "NAME",
       {"tanh", "relu"}},
      {"lion-contraction",
       "lion_contraction",
       MethodOption::Type::Text,
       "spectral",
       "LION: spectral or weight normalisation of the recurrent weight",
       "NAME",
       {"spectral", "weight"}},
      {"lion-lipschitz", "lion_lipschitz", MethodOption::Type::Number, "0.9",
       "LION: bound on the recurrent weight's norm", "R"},
      {"lion-groupnorm", "lion_groupnorm", MethodOption::Type::Bool, "false",
       "LION: GroupNorm in the pixel-space layer (no contraction guarantee)", "BOOL"},
      {"lion-solver",
       "lion_solver",
       MethodOption::Type::Text,
       "anderson",
       "LION: forward and backward solver: anderson, broyden (the DEQ/MDEQ code's limited-memory "
       "form) or fixed",
       "NAME",
       {"anderson", "broyden", "fixed"}},
      {"lion-tol", "lion_tol", MethodOption::Type::Number, "0.001",
       "LION: relative residual that ends a forward solve", "TOL"},
      {"lion-max-iter", "lion_max_iter", MethodOption::Type::Integer, "30",
       "LION: function evaluations of a forward solve", "N"},
      {"lion-grad", "lion_grad", MethodOption::Type::Text, "ift",
       "LION: gradient, ift (implicit) or phantom:K", "KIND"},
      {"lion-tau", "lion_tau", MethodOption::Type::Number, "0.5",
       "LION: damping of the phantom steps, in (0, 1]", "T"},
      {"lion-backward-tol", "lion_backward_tol", MethodOption::Type::Number, "1e-06",
       "LION: residual that ends the implicit gradient's solve", "TOL"},
      {"lion-backward-max-iter", "lion_backward_max_iter", MethodOption::Type::Integer, "40",
       "LION: evaluations of the implicit gradient's solve", "N"},
      {"lion-prune-reg", "lion_prune_reg", MethodOption::Type::Number, "0",
       "LION: thresholded L1 pull of sub-threshold weights to zero (0: off)", "L"},
      {"lion-prune-sparsity", "lion_prune_sparsity", MethodOption::Type::Number, "0.5",
       "LION: the fraction of weights --lion-prune-reg prunes", "S"},
  };
  return table;
}

nlohmann::json Lion::config() const {
  return {{"lion_input", input_ == Input::Pixel   ? "pixel"
                         : input_ == Input::Token ? "token"
                                                  : "none"},
          {"lion_output", output_},
          {"lion_output_from", output_from_image_ ? "image" : "feature"},
          {"lion_channels", channels_},
          {"lion_token_width", token_width_},
          {"lion_width", width_},
          {"lion_activation", relu_ ? "relu" : "tanh"},
          {"lion_contraction", spectral_ ? "spectral" : "weight"},
          {"lion_lipschitz", lipschitz_},
          {"lion_groupnorm", groupnorm_},
          {"lion_solver", deq_solver_name(deq_.solver)},
          {"lion_tol", deq_.tol},
          {"lion_max_iter", deq_.max_iter},
          {"lion_grad", deq_gradient_name(deq_)},
          {"lion_tau", deq_.phantom_tau},
          {"lion_backward_tol", deq_.backward_tol},
          {"lion_backward_max_iter", deq_.backward_max_iter},
          {"lion_prune_reg", prune_reg_},
          {"lion_prune_sparsity", prune_sparsity_}};
}

void Lion::attach(model::VisionTransformer& vit, torch::Generator& generator) {
  const model::VitConfig& c = vit->config();
  patch_embed_ = vit->patch_embed;
  const torch::Tensor& like = vit->pos_embed;
  auto weight = [&](std::int64_t out, std::int64_t fan_in) {
    return trainable_like(linear_weight(out, fan_in, generator), like);
  };
  auto bias = [&](std::int64_t out, std::int64_t fan_in) {
    return trainable_like(uniform({out}, 1.0 / std::sqrt(double(fan_in)), generator), like);
  };
  layers_.clear();
  if (input_ == Input::Pixel) {
    Layer layer;
    layer.name = "input";
    layer.convolutional = true;
    const std::int64_t ch = channels_, in = c.in_chans;
    layer.recurrent =
        trainable_like(linear_weight(ch, ch * 9, generator).view({ch, ch, 3, 3}), like);
    layer.injection =
        trainable_like(linear_weight(ch, in * 9, generator).view({ch, in, 3, 3}), like);
    layer.injection_bias = bias(ch, in * 9);
    layer.prompt = trainable_like(torch::zeros({in, ch, 1, 1}), like);
    if (groupnorm_) {
      layer.norm_weight = trainable_like(torch::ones({ch}), like);
      layer.norm_bias = trainable_like(torch::zeros({ch}), like);
    }
    layers_.push_back(layer);
  }
  // A layer on D-wide vectors (tokens or the pooled feature) with a `state`-wide state.
  auto vector_layer = [&](const std::string& name, std::int64_t state) {
    Layer layer;
    layer.name = name;
    layer.recurrent = weight(state, state);
    layer.injection = weight(state, c.width);
    layer.injection_bias = bias(state, c.width);
    layer.prompt = trainable_like(torch::zeros({c.width, state}), like);
    layers_.push_back(layer);
  };
  if (input_ == Input::Token) vector_layer("input", token_width_);
  if (output_) vector_layer("output", width_);
  // Masks given before attach() (peft-train --mask, a bundle's structure).
  const std::map<std::string, torch::Tensor> given = masks_;
  masks_.clear();
  set_masks(given);
}

NamedTensors Lion::layer_tensors(const Layer& layer) const {
  NamedTensors tensors = {{layer.name + ".recurrent.weight", layer.recurrent},
                          {layer.name + ".injection.weight", layer.injection},
                          {layer.name + ".injection.bias", layer.injection_bias},
                          {layer.name + ".prompt.weight", layer.prompt}};
  if (layer.norm_weight.defined()) {
    tensors.emplace_back(layer.name + ".norm.weight", layer.norm_weight);
    tensors.emplace_back(layer.name + ".norm.bias", layer.norm_bias);
  }
  return tensors;
}

NamedTensors Lion::trainable() const {
  NamedTensors tensors;
  for (const Layer& layer : layers_) {
    for (auto& item : layer_tensors(layer)) tensors.push_back(std::move(item));
  }
  return tensors;
}

bool Lion::is_prunable(const std::string& name) {
  for (const char* suffix : {".recurrent.weight", ".injection.weight", ".prompt.weight"}) {
    const std::string tail = suffix;
    if (name.size() > tail.size() &&
        name.compare(name.size() - tail.size(), tail.size(), tail) == 0)
      return true;
  }
  return false;
}

NamedTensors Lion::prunable() const {
  NamedTensors tensors;
  for (const Layer& layer : layers_) {
    tensors.emplace_back(layer.name + ".recurrent.weight", layer.recurrent);
    tensors.emplace_back(layer.name + ".injection.weight", layer.injection);
    tensors.emplace_back(layer.name + ".prompt.weight", layer.prompt);
  }
  return tensors;
}

void Lion::set_masks(const std::map<std::string, torch::Tensor>& masks) {
  if (layers_.empty()) {  // not attached yet: checked by attach()
    masks_ = masks;
    return;
  }
  const NamedTensors weights = prunable();
  for (const auto& [name, mask] : masks) {
    const torch::Tensor* target = nullptr;
    for (const auto& [weight_name, weight] : weights) {
      if (weight_name == name) target = &weight;
    }
    if (!target) throw Error("a LION mask names '" + name + "', which is not a prunable weight");
    if (mask.sizes() != target->sizes()) {
      throw Error("the LION mask of '" + name + "' is " + io::shape_string(mask.sizes()) +
                  ", the weight " + io::shape_string(target->sizes()));
    }
    masks_[name] = mask.ne(0).to(target->options().requires_grad(false));
  }
  zero_masked();
}

void Lion::zero_masked() {
  torch::NoGradGuard no_grad;
  for (auto& [name, weight] : prunable()) {
    const auto found = masks_.find(name);
    if (found != masks_.end()) weight.mul_(found->second);
  }
}

NamedTensors Lion::structure() const {
  NamedTensors tensors;
  for (const auto& [name, mask] : masks_) {
    tensors.emplace_back(kMaskPrefix + name, mask.to(torch::kCPU, torch::kUInt8));
  }
  return tensors;
}

void Lion::restore_structure(const NamedTensors& tensors) {
  std::map<std::string, torch::Tensor> masks;
  const std::string prefix = kMaskPrefix;
  for (const auto& [name, tensor] : tensors) {
    if (name.rfind(prefix, 0) != 0) {
      throw Error("the bundle holds structure tensor '" + name + "', which lion does not use");
    }
    masks[name.substr(prefix.size())] = tensor;
  }
  set_masks(masks);
}

void Lion::load(const NamedTensors& tensors) {
  Method::load(tensors);
  zero_masked();
}

std::int64_t Lion::parameter_count() const {
  std::int64_t count = Method::parameter_count();
  for (const auto& [name, mask] : masks_)
    count -= mask.numel() - mask.count_nonzero().item<std::int64_t>();
  return count;
}

torch::Tensor Lion::masked(const std::string& name, const torch::Tensor& weight) const {
  const auto found = masks_.find(name);
  return found == masks_.end() ? weight : weight * found->second;
}

torch::Tensor Lion::contractive(const Layer& layer) const {
  const torch::Tensor w = masked(layer.name + ".recurrent.weight", layer.recurrent);
  const double bound = layer.convolutional ? kConvNormBound : 1.0;
  const torch::Tensor matrix = w.reshape({w.size(0), -1});
  if (spectral_) {
    torch::Tensor singular_values;
    try {
      singular_values = torch::linalg_svdvals(matrix);
    } catch (const c10::Error&) {
      // LAPACK gives up on non-finite or overflowing entries.
      throw Error("LION: the spectral norm of '" + layer.name +
                  ".recurrent.weight' cannot be computed (its values are not finite or too "
                  "large)");
    }
    const torch::Tensor norm = singular_values.max() * bound;
    return w * torch::clamp_max(lipschitz_ / (norm + 1e-12), 1.0);
  }
  return w * (lipschitz_ / (matrix.norm() * bound + 1e-12));
}

torch::Tensor Lion::activation(const torch::Tensor& x) const {
  return relu_ ? torch::relu(x) : torch::tanh(x);
}

torch::Tensor Lion::prompt_of(Layer& layer, const torch::Tensor& drive) {
  const torch::Tensor recurrent = contractive(layer);
  const torch::Tensor injection_weight = masked(layer.name + ".injection.weight", layer.injection);
  const torch::Tensor prompt_weight = masked(layer.name + ".prompt.weight", layer.prompt);
  *layer.stats.backward = {};
  layer.solved = true;
  if (layer.convolutional) {
    const torch::Tensor injected =
        torch::conv2d(drive, injection_weight, layer.injection_bias, 1, 1);
    // The most groups, up to 4, that divide the channels.
    std::int64_t groups = std::min<std::int64_t>(4, channels_);
    while (channels_ % groups != 0) --groups;
    const bool norm = layer.norm_weight.defined();
    const FixedPointMap f = [&](const torch::Tensor& z) {
      torch::Tensor a = torch::conv2d(z, recurrent, {}, 1, 1) + injected;
      if (norm) a = torch::group_norm(a, groups, layer.norm_weight, layer.norm_bias);
      return activation(a);
    };
    const torch::Tensor fixed = equilibrium(f, torch::zeros_like(injected), deq_, layer.stats);
    return torch::conv2d(fixed, prompt_weight);
  }
  const torch::Tensor injected = torch::linear(drive, injection_weight, layer.injection_bias);
  const FixedPointMap f = [&](const torch::Tensor& z) {
    return activation(torch::linear(z, recurrent) + injected);
  };
  const torch::Tensor fixed = equilibrium(f, torch::zeros_like(injected), deq_, layer.stats);
  return torch::linear(fixed, prompt_weight);
}

torch::Tensor Lion::pixels(const torch::Tensor& x) {
  // The image as the output layer sees it: the frozen patch embedding of
  // the un-prompted input, averaged over the patches ([B, D], as the pooled
  // feature is).
  if (output_from_image_) image_drive_ = patch_embed_->forward(x).mean(1);
  if (input_ != Input::Pixel) return x;
  return x + prompt_of(layers_.front(), x);
}

torch::Tensor Lion::tokens(const torch::Tensor& x) {
  if (input_ != Input::Token) return x;
  return x + prompt_of(layers_.front(), x);
}

torch::Tensor Lion::pooled(const torch::Tensor& feature) {
  if (!output_) return feature;
  const torch::Tensor drive = output_from_image_ ? image_drive_.to(feature.scalar_type()) : feature;
  return feature + prompt_of(layers_.back(), drive);
}

std::map<std::string, torch::Tensor> Lion::prune_targets() const {
  std::map<std::string, torch::Tensor> targets;
  for (const auto& [name, weight] : prunable()) {
    const auto found = masks_.find(name);
    const torch::Tensor kept =
        found != masks_.end() ? found->second : torch::ones(weight.sizes(), torch::kBool);
    const auto count = std::int64_t(std::llround(prune_sparsity_ * double(weight.numel())));
    const std::int64_t already = weight.numel() - kept.ne(0).sum().item<std::int64_t>();
    targets[name] = count <= already ? kept.ne(0).to(torch::kUInt8).cpu()
                                     : smallest_pruned(weight.cpu(), kept.cpu(), count);
  }
  return targets;
}

void Lion::before_step() {
  if (prune_reg_ <= 0.0) return;
  torch::NoGradGuard no_grad;
  const auto targets = prune_targets();
  for (const auto& [name, weight] : prunable()) {
    torch::Tensor grad = weight.mutable_grad();
    if (!grad.defined()) continue;
    // The weights bound to be pruned are pulled to zero by an L1 term of strength λ.
    const torch::Tensor doomed = targets.at(name).eq(0).to(weight.options());
    grad.add_(prune_reg_ * weight.sign() * doomed);
  }
}

void Lion::finish_training() {
  if (prune_reg_ > 0.0) set_masks(prune_targets());
}

nlohmann::json Lion::diagnostics() const {
  nlohmann::json report = nlohmann::json::object();
  std::string warning;
  for (const Layer& layer : layers_) {
    if (!layer.solved) continue;
    const std::string key = "lion_" + layer.name;
    const SolveStats& forward = layer.stats.forward;
    report[key + "_residual"] = forward.residual;
    report[key + "_evaluations"] = forward.evaluations;
    if (!forward.converged) {
      warning += (warning.empty() ? "" : "; ") + layer.name +
                 " solve did not converge: " + format_residual(forward, deq_.tol);
    }
    const SolveStats& backward = *layer.stats.backward;
    if (backward.evaluations > 0) {
      report[key + "_backward_residual"] = backward.residual;
      report[key + "_backward_evaluations"] = backward.evaluations;
      if (!backward.converged) {
        warning +=
            (warning.empty() ? "" : "; ") + layer.name +
            " adjoint solve did not converge: " + format_residual(backward, deq_.backward_tol);
      }
    }
  }
  if (!warning.empty()) report["warning"] = "LION " + warning;
  return report;
}

}  // namespace vpet::peft
