// Hugging Face peft folders: a LoRA bundle written for peft and read back
// computes what it computed (timm's fused qkv, HF's separate q/k/v), and
// what vpet's LoRA cannot be is refused, naming the file.
#include <gtest/gtest.h>

#include "method_test_support.h"
#include "vpet/peft/hf_peft.h"

namespace vpet::peft {
namespace {

Bundle random_lora_bundle(model::Backbone& backbone, const nlohmann::json& config) {
  auto method = test::attached("lora", config, backbone.vit);
  torch::NoGradGuard no_grad;
  torch::manual_seed(3);
  for (const auto& [name, tensor] : method->trainable()) tensor.normal_(0.0, 0.2);
  Bundle bundle;
  bundle.method = "lora";
  bundle.config = method->config();
  bundle.backbone = backbone.describe();
  bundle.classes = {"a", "b", "c"};
  bundle.tensors = method->trainable();
  bundle.head_weight = torch::randn({3, backbone.vit->config().width});
  bundle.head_bias = torch::randn({3});
  return bundle;
}

torch::Tensor logits(const Bundle& bundle, const std::string& file) {
  model::Backbone backbone = test::tiny_backbone(file);
  auto method = rebuild_method(bundle, "bundle", backbone);
  torch::NoGradGuard no_grad;
  const torch::Tensor pixels = test::colour_task(2, backbone.vit->config().img_size, 3).pixels;
  return torch::nn::functional::linear(backbone.vit->features(pixels, *method), bundle.head_weight,
                                       bundle.head_bias);
}

void expect_round_trip(const std::string& file, const nlohmann::json& config) {
  model::Backbone backbone = test::tiny_backbone(file);
  const Bundle bundle = random_lora_bundle(backbone, config);
  const PeftFolder folder = to_peft(bundle, "bundle", backbone);
  const Bundle back = from_peft(folder, "dir", backbone);
  EXPECT_EQ(back.classes, bundle.classes);
  EXPECT_EQ(back.config["targets"], bundle.config["targets"]) << file;
  EXPECT_EQ(back.config["rank"], bundle.config["rank"]) << file;
  const torch::Tensor a = logits(bundle, file), b = logits(back, file);
  EXPECT_TRUE(torch::allclose(a, b, 1e-5, 1e-5))
      << file << ": " << (a - b).abs().max().item<double>();
}

TEST(HfPeft, LoRARoundTripsThroughTimmsFusedQkv) {
  expect_round_trip("a_timm.safetensors",
                    {{"rank", 2}, {"alpha", 5.0}, {"targets", {"q", "v", "o", "fc2"}}});
}

TEST(HfPeft, LoRARoundTripsThroughHuggingFaceModuleNames) {
  model::Backbone backbone = test::tiny_backbone("a_hf/model.safetensors");
  const Bundle bundle =
      random_lora_bundle(backbone, {{"rank", 3}, {"targets", {"q", "k", "v", "fc1"}}});
  const PeftFolder folder = to_peft(bundle, "bundle", backbone);
  EXPECT_TRUE(folder.weights.contains(
      "base_model.model.vit.encoder.layer.1.attention.attention.key.lora_A.weight"));
  EXPECT_TRUE(folder.weights.contains("base_model.model.classifier.weight"));
  EXPECT_EQ(folder.config["modules_to_save"], nlohmann::json::array({"classifier"}));
  expect_round_trip("a_hf/model.safetensors", {{"rank", 3}, {"targets", {"q", "k", "v", "fc1"}}});
}

TEST(HfPeft, OtherMethodsAndOptionsAreRefused) {
  model::Backbone backbone = test::tiny_backbone();
  const Bundle bundle = random_lora_bundle(backbone, {{"rank", 2}});
  PeftFolder folder = to_peft(bundle, "bundle", backbone);
  folder.config["peft_type"] = "IA3";
  EXPECT_THROW(
      {
        try {
          from_peft(folder, "dir", backbone);
        } catch (const Error& e) {
          EXPECT_NE(std::string(e.what()).find("dir/adapter_config.json: peft_type is 'IA3'"),
                    std::string::npos)
              << e.what();
          throw;
        }
      },
      Error);
  Bundle bitfit = bundle;
  bitfit.method = "bitfit";
  EXPECT_THROW(to_peft(bitfit, "bundle", backbone), Error);
}

}  // namespace
}  // namespace vpet::peft
