// What the method tests share: a tiny pre-trained backbone, a snapshot to
// prove it stays frozen, a two-class colour task, and a short training loop
// (a new linear head on features(), Adam) that says whether a method learns.
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "vpet/error.h"
#include "vpet/model/checkpoint.h"
#include "vpet/peft/registry.h"

namespace vpet::peft::test {

inline model::Backbone tiny_backbone(const std::string& file = "a_timm.safetensors") {
  return model::load_backbone(std::string(VPET_FIXTURES) + "/vit/" + file);
}

inline std::unique_ptr<Method> attached(const std::string& name, const nlohmann::json& config,
                                        model::VisionTransformer& vit, std::uint64_t seed = 0) {
  auto method = create_method(name, config);
  torch::Generator generator = at::detail::createCPUGenerator(seed);
  method->attach(vit, generator);
  return method;
}

// The tensor called `name` among the method's trainable ones (a test
// failure, and an undefined tensor, where there is none).
inline torch::Tensor named(const Method& method, const std::string& name) {
  for (const auto& [tensor_name, tensor] : method.trainable()) {
    if (tensor_name == name) return tensor;
  }
  ADD_FAILURE() << "no " << name;
  return {};
}

// The frozen model's pooled features (no method).
inline torch::Tensor frozen_features(model::VisionTransformer& vit, const torch::Tensor& pixels) {
  model::ForwardHooks none;
  return vit->features(pixels, none);
}

// Forwards every hook to `inner` and keeps what passed: the sequence after
// tokens(), each block's input after block_input(), the sequence entering
// final_tokens() and the one it returned.
class Recorder : public model::ForwardHooks {
 public:
  explicit Recorder(model::ForwardHooks& inner) : inner_(inner) {}

  torch::Tensor pixels(const torch::Tensor& x) override { return inner_.pixels(x); }
  torch::Tensor patches(const torch::Tensor& x) override { return inner_.patches(x); }
  torch::Tensor tokens(const torch::Tensor& x) override { return first = inner_.tokens(x); }
  torch::Tensor block_input(std::int64_t block, const torch::Tensor& x) override {
    inputs.push_back(inner_.block_input(block, x));
    return inputs.back();
  }
  void attention(std::int64_t block, const model::BlockImpl& module,
                 model::AttentionInputs& inputs) override {
    inner_.attention(block, module, inputs);
  }
  torch::Tensor linear(std::int64_t block, model::Site site, const torch::Tensor& input,
                       const torch::Tensor& output) override {
    return inner_.linear(block, site, input, output);
  }
  torch::Tensor norm(std::int64_t block, model::NormSite site, const torch::Tensor& input,
                     const torch::Tensor& output) override {
    return inner_.norm(block, site, input, output);
  }
  torch::Tensor block_output(std::int64_t block, const torch::Tensor& residual,
                             const torch::Tensor& output) override {
    return inner_.block_output(block, residual, output);
  }
  torch::Tensor final_tokens(const torch::Tensor& x) override {
    last = x;
    return restored = inner_.final_tokens(x);
  }
  torch::Tensor pooled(const torch::Tensor& feature) override { return inner_.pooled(feature); }

  torch::Tensor first, last, restored;
  std::vector<torch::Tensor> inputs;

 private:
  model::ForwardHooks& inner_;
};

// Every parameter and buffer of the backbone, cloned.
inline NamedTensors snapshot(const model::VisionTransformer& vit) {
  NamedTensors copy;
  for (const auto& item : vit->named_parameters())
    copy.emplace_back(item.key(), item.value().clone());
  for (const auto& item : vit->named_buffers()) copy.emplace_back(item.key(), item.value().clone());
  return copy;
}

// Whether the backbone is still exactly `before`, with no gradient anywhere.
inline ::testing::AssertionResult unchanged(const model::VisionTransformer& vit,
                                            const NamedTensors& before) {
  const NamedTensors now = snapshot(vit);
  if (now.size() != before.size()) return ::testing::AssertionFailure() << "tensor count changed";
  for (std::size_t i = 0; i < now.size(); ++i) {
    if (!torch::equal(now[i].second, before[i].second)) {
      return ::testing::AssertionFailure() << now[i].first << " changed";
    }
  }
  for (const auto& item : vit->named_parameters()) {
    if (item.value().requires_grad() || item.value().grad().defined()) {
      return ::testing::AssertionFailure() << item.key() << " is trainable or has a gradient";
    }
  }
  return ::testing::AssertionSuccess();
}

// Images of `size` whose class (0 or 1) is only in a faint colour cast
// (red versus blue) under strong noise.
struct ColourTask {
  torch::Tensor pixels, labels;
};

inline ColourTask colour_task(std::int64_t per_class, std::array<std::int64_t, 2> size,
                              std::uint64_t seed) {
  torch::Generator generator = at::detail::createCPUGenerator(seed);
  const torch::Tensor labels = torch::arange(2).repeat_interleave(per_class);
  const torch::Tensor cast = torch::tensor({0.4f, 0.0f, -0.4f}).view({1, 3, 1, 1});
  const torch::Tensor sign = (labels.to(torch::kFloat32) * 2 - 1).view({-1, 1, 1, 1});
  const torch::Tensor noise =
      torch::empty({2 * per_class, 3, size[0], size[1]}).normal_(0.0, 1.0, generator);
  return {noise + sign * cast, labels};
}

// Trains `method` alone for `steps` Adam steps under a new, random and
// frozen linear head, so that whatever is learnt is the method's (a trained
// head alone reaches ~95% on frozen features here; with this head the
// untrained method scores chance). Returns the accuracy on a held-out set of
// the same task.
inline double train_colour_task(Method& method, model::VisionTransformer& vit, int steps = 60,
                                double lr = 3e-2) {
  const auto& c = vit->config();
  const ColourTask train = colour_task(16, c.img_size, 1);
  const ColourTask held_out = colour_task(32, c.img_size, 2);
  torch::manual_seed(0);
  torch::nn::Linear head(c.width, 2);
  for (auto& parameter : head->parameters()) parameter.requires_grad_(false);
  std::vector<torch::Tensor> parameters;
  for (const auto& [name, tensor] : method.trainable()) parameters.push_back(tensor);
  torch::optim::Adam optimizer(parameters, torch::optim::AdamOptions(lr));
  method.set_training(true);
  for (int step = 0; step < steps; ++step) {
    optimizer.zero_grad();
    const torch::Tensor logits = head->forward(vit->features(train.pixels, method));
    torch::nn::functional::cross_entropy(logits, train.labels).backward();
    optimizer.step();
  }
  method.set_training(false);
  torch::NoGradGuard no_grad;
  const torch::Tensor predicted = head->forward(vit->features(held_out.pixels, method)).argmax(1);
  return predicted.eq(held_out.labels).to(torch::kFloat64).mean().item<double>();
}

// Whether every trainable tensor moved away from `before`.
inline bool all_moved(const Method& method, const NamedTensors& before) {
  const NamedTensors now = method.trainable();
  for (std::size_t i = 0; i < now.size(); ++i) {
    if (torch::equal(now[i].second, before[i].second)) return false;
  }
  return true;
}

inline NamedTensors cloned(const NamedTensors& tensors) {
  NamedTensors copy;
  for (const auto& [name, tensor] : tensors) copy.emplace_back(name, tensor.detach().clone());
  return copy;
}

// A method's bundle round trip: a second instance, drawn from another seed,
// gets the first's structure() and trainable() and then holds the same
// tensors and gives the same features.
inline void expect_load_round_trip(const std::string& name, const nlohmann::json& config,
                                   const Method& trained, model::VisionTransformer& vit) {
  // As a bundle rebuilds it: the structure first, then attach, then the tensors.
  auto restored = create_method(name, config);
  restored->restore_structure(trained.structure());
  torch::Generator generator = at::detail::createCPUGenerator(99);
  restored->attach(vit, generator);
  restored->load(trained.trainable());
  const NamedTensors a = trained.trainable(), b = restored->trainable();
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
  }
  torch::NoGradGuard no_grad;
  const torch::Tensor pixels = colour_task(2, vit->config().img_size, 3).pixels;
  EXPECT_TRUE(torch::equal(vit->features(pixels, const_cast<Method&>(trained)),
                           vit->features(pixels, *restored)));
}

// The full method check shared by every test file: learns the colour task
// clearly above chance (0.5), moves every trainable tensor, leaves the backbone
// bit-identical, and round-trips through load().
inline void expect_learns(const std::string& name, const nlohmann::json& config) {
  torch::manual_seed(0);
  model::Backbone backbone = tiny_backbone();
  const NamedTensors before = snapshot(backbone.vit);
  auto method = attached(name, config, backbone.vit);
  const NamedTensors initial = cloned(method->trainable());
  EXPECT_LE(train_colour_task(*method, backbone.vit, 0), 0.6);  // the control: untrained
  EXPECT_GE(train_colour_task(*method, backbone.vit), 0.85) << name << " " << config.dump();
  EXPECT_TRUE(all_moved(*method, initial));
  EXPECT_TRUE(unchanged(backbone.vit, before));
  expect_load_round_trip(name, config, *method, backbone.vit);
}

// The vpet::UsageError message create_method gives for `config`, or
// "no error".
inline std::string usage_error(const std::string& name, const nlohmann::json& config) {
  try {
    create_method(name, config);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace vpet::peft::test
