// SPT's second stage: a hand-made plan on the tiny model trains exactly the
// planned entries of the backbone's effective weights, learns, round-trips
// through a bundle, and is refused where it does not fit.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "method_test_support.h"
#include "vpet/io/atomic_file.h"
#include "vpet/io/stream.h"
#include "vpet/peft/spt.h"
#include "vpet/peft/spt_plan.h"

namespace vpet::peft {
namespace {

using spt::Tuning;

// The tiny model (width 48, MLP 96, 2 blocks): a module on two matrices,
// two full vectors, sparse entries on weights (few: the gather path; more
// than the input width: the dense path), on biases and on LayerNorms.
spt::Plan hand_plan(spt::Structure structure) {
  spt::Plan plan;
  plan.structure = structure;
  plan.rank = 2;
  plan.budget = 1500;
  plan.selected = 400;
  plan.class_token = 48;
  plan.tuned["blocks.0.attn.v.weight"].tuning = Tuning::Module;
  plan.tuned["blocks.0.attn.proj.weight"].tuning = Tuning::Module;
  plan.tuned["blocks.1.mlp.fc2.weight"].tuning = Tuning::Module;
  plan.tuned["blocks.0.norm1.weight"].tuning = Tuning::Full;
  plan.tuned["blocks.1.attn.proj.bias"].tuning = Tuning::Full;
  auto sparse = [&](const std::string& name, std::vector<std::int64_t> indices) {
    plan.tuned[name] = {Tuning::Sparse, torch::tensor(indices, torch::kInt64)};
  };
  sparse("blocks.0.attn.q.weight", {0, 7, 49, 100, 2303});
  std::vector<std::int64_t> many;
  for (std::int64_t i = 3; i < 96 * 48; i += 41) many.push_back(i);  // 113 > 48 entries
  sparse("blocks.1.mlp.fc1.weight", many);
  sparse("blocks.0.attn.k.bias", {1, 2, 40});
  sparse("blocks.1.norm2.weight", {0, 47});
  sparse("norm.bias", {5, 6, 7, 8});
  spt::count(plan, spt::candidates(test::tiny_backbone().vit->config()));
  return plan;
}

class SptPlanFile : public ::testing::Test {
 protected:
  void TearDown() override { std::filesystem::remove(path); }

  void write(const std::vector<spt::Plan>& plans, const std::string& fingerprint) {
    io::AtomicOutput output(path);
    spt::write_plans(output, {{"backbone", {{"fingerprint", fingerprint}}}}, plans, 2, "test", {});
    output.commit();
  }

  std::string path = (std::filesystem::temp_directory_path() /
                      ("vpet_test_plan_" + std::to_string(::getpid()) + ".vpet"))
                         .string();
  model::Backbone backbone = test::tiny_backbone();
};

// The effective weight and bias of a linear under the method: its output
// for a zero input (the bias) and for each unit input (the columns).
std::pair<torch::Tensor, torch::Tensor> effective_linear(Method& method, std::int64_t block,
                                                         model::Site site, const torch::Tensor& w,
                                                         const torch::Tensor& b) {
  const std::int64_t in = w.size(1);
  const torch::Tensor probe = torch::cat({torch::zeros({1, in}), torch::eye(in)}).unsqueeze(0);
  const torch::Tensor out = method.linear(block, site, probe, torch::linear(probe, w, b))[0];
  const torch::Tensor bias = out[0];
  return {(out.narrow(0, 1, in) - bias).t(), bias};
}

// The effective γ and β of a LayerNorm: its output for a zero input
// (x̂ = 0: β) and for an alternating ±1 input (x̂ = ±1/√(1+ε)).
std::pair<torch::Tensor, torch::Tensor> effective_norm(Method& method, std::int64_t block,
                                                       model::NormSite site,
                                                       const torch::Tensor& gamma,
                                                       const torch::Tensor& beta, double eps) {
  const std::int64_t width = gamma.size(0);
  const torch::Tensor alternating =
      torch::arange(width).remainder(2).mul(2).sub(1).to(torch::kFloat);
  const torch::Tensor probe = torch::stack({torch::zeros({width}), alternating}).unsqueeze(0);
  const torch::Tensor out =
      method.norm(block, site, probe, torch::layer_norm(probe, {width}, gamma, beta, eps))[0];
  const torch::Tensor normalized = alternating / std::sqrt(1.0 + eps);
  return {(out[1] - out[0]) / normalized, out[0]};
}

TEST_F(SptPlanFile, TrainsExactlyThePlannedEntries) {
  const spt::Plan plan = hand_plan(spt::Structure::LoRA);
  write({plan}, backbone.fingerprint);
  model::VisionTransformer& vit = backbone.vit;
  const NamedTensors before = test::snapshot(vit);
  auto method = test::attached("spt-lora", {{"plan", path}}, vit);
  method->check_backbone(backbone.fingerprint);
  EXPECT_EQ(method->parameter_count(), plan.params());
  test::train_colour_task(*method, vit, 20, 5e-2);
  EXPECT_TRUE(test::unchanged(vit, before));

  torch::NoGradGuard no_grad;
  std::int64_t checked = 0;
  for (const spt::Candidate& candidate : spt::candidates(vit->config())) {
    // Which entries of the effective tensor differ from the frozen one.
    torch::Tensor changed;
    if (candidate.is_norm) {
      spt::Candidate weight = candidate, bias = candidate;
      weight.is_bias = false;
      bias.is_bias = true;
      const auto [g, b] =
          effective_norm(*method, candidate.block, candidate.norm, weight.value(*vit),
                         bias.value(*vit), vit->config().ln_eps);
      changed = ((candidate.is_bias ? b : g) - candidate.value(*vit)).abs() > 1e-4;
    } else {
      spt::Candidate weight = candidate, bias = candidate;
      weight.is_bias = false;
      bias.is_bias = true;
      bias.shape = {candidate.shape[0]};
      const auto [w, b] = effective_linear(*method, candidate.block, candidate.site,
                                           weight.value(*vit), bias.value(*vit));
      changed = ((candidate.is_bias ? b : w) - candidate.value(*vit)).abs() > 1e-4;
    }
    changed = changed.flatten();
    const Tuning tuning = plan.tuning(candidate.name);
    ++checked;
    if (tuning == Tuning::Module) {
      // W + B·A: the whole matrix may move (some entries only a little).
      EXPECT_TRUE(changed.any().item<bool>()) << candidate.name;
      continue;
    }
    torch::Tensor expected = torch::zeros({candidate.numel()}, torch::kBool);
    if (tuning == Tuning::Full) expected.fill_(true);
    if (tuning == Tuning::Sparse)
      expected.index_fill_(0, plan.tuned.at(candidate.name).indices, true);
    EXPECT_TRUE(torch::equal(changed, expected)) << candidate.name;
  }
  EXPECT_EQ(checked, 2 * 16 + 2);
}

TEST_F(SptPlanFile, LearnsAndRoundTripsThroughTheBundleStructure) {
  write({hand_plan(spt::Structure::LoRA)}, backbone.fingerprint);
  test::expect_learns("spt-lora", {{"plan", path}});
  write({hand_plan(spt::Structure::Adapter)}, backbone.fingerprint);
  test::expect_learns("spt-adapter", {{"plan", path}, {"module_dropout", 0.0}});

  // As peft-eval rebuilds it: config(), then structure(), then the tensors.
  auto trained = test::attached("spt-adapter", {{"plan", path}}, backbone.vit);
  test::train_colour_task(*trained, backbone.vit, 5);
  auto rebuilt = create_method("spt-adapter", trained->config());
  rebuilt->restore_structure(trained->structure());
  torch::Generator generator = at::detail::createCPUGenerator(7);
  rebuilt->attach(backbone.vit, generator);
  rebuilt->load(trained->trainable());
  torch::NoGradGuard no_grad;
  const torch::Tensor pixels = test::colour_task(2, backbone.vit->config().img_size, 3).pixels;
  EXPECT_TRUE(torch::equal(backbone.vit->features(pixels, *trained),
                           backbone.vit->features(pixels, *rebuilt)));
  EXPECT_EQ(rebuilt->config(), trained->config());
}

TEST_F(SptPlanFile, RefusesWhatDoesNotFit) {
  write({hand_plan(spt::Structure::LoRA)}, backbone.fingerprint);
  EXPECT_THROW(create_method("spt-lora", {{"plan", path}})->check_backbone("sha256:00000000"),
               Error);
  EXPECT_NE(test::usage_error("spt-adapter", {{"plan", path}}).find("--method spt-lora"),
            std::string::npos);
  EXPECT_NE(test::usage_error("spt-lora", nlohmann::json::object()).find("--plan"),
            std::string::npos);

  spt::Plan other = hand_plan(spt::Structure::LoRA);
  other.budget = 3000;
  write({hand_plan(spt::Structure::LoRA), other}, backbone.fingerprint);
  EXPECT_NE(test::usage_error("spt-lora", {{"plan", path}}).find("1500, 3000"), std::string::npos);
  EXPECT_EQ(
      create_method("spt-lora", {{"plan", path}, {"budget", "3000"}})->config()["plan"]["budget"],
      3000);

  spt::Plan foreign = hand_plan(spt::Structure::LoRA);
  foreign.tuned["blocks.7.attn.q.bias"].tuning = Tuning::Full;
  write({foreign}, backbone.fingerprint);
  EXPECT_THROW(test::attached("spt-lora", {{"plan", path}}, backbone.vit), Error);
}

TEST(SptPlan, BudgetsReadAsResearchersWriteThem) {
  EXPECT_EQ(spt::parse_budget("0.4M", "--budget"), 400000);
  EXPECT_EQ(spt::parse_budget("400k", "--budget"), 400000);
  EXPECT_EQ(spt::parse_budget("1.5e5", "--budget"), 150000);
  EXPECT_EQ(spt::parse_budget("1234", "--budget"), 1234);
  EXPECT_THROW(spt::parse_budget("0.4G", "--budget"), UsageError);
  EXPECT_THROW(spt::parse_budget("", "--budget"), UsageError);
  EXPECT_THROW(spt::parse_budget("0", "--budget"), UsageError);
  EXPECT_EQ(spt::budget_string(400000), "0.4M");
  EXPECT_EQ(spt::budget_string(1234), "1234");
}

TEST(SptPlan, CandidatesAreSptsInTheirOrder) {
  const auto list = spt::candidates(test::tiny_backbone().vit->config());
  ASSERT_EQ(list.size(), 2u * 16 + 2);
  EXPECT_EQ(list[0].name, "blocks.0.norm1.weight");
  EXPECT_EQ(list[2].name, "blocks.0.attn.q.weight");
  EXPECT_EQ(list[9].name, "blocks.0.attn.proj.bias");
  EXPECT_EQ(list[12].name, "blocks.0.mlp.fc1.weight");
  EXPECT_EQ(list.back().name, "norm.bias");
  std::int64_t total = 0;
  for (const auto& candidate : list) total += candidate.numel();
  // Per block: 4·(48·48 + 48) + 2·48·96 + 96 + 48 + 4·48; plus the final norm.
  EXPECT_EQ(total, 2 * (4 * (48 * 48 + 48) + 2 * 48 * 96 + 96 + 48 + 4 * 48) + 2 * 48);
  EXPECT_EQ(spt::module_cost(spt::Structure::LoRA, 8, 3072, 768), 30720);
  EXPECT_EQ(spt::module_cost(spt::Structure::Adapter, 8, 3072, 768), 52232);
  EXPECT_EQ(spt::module_cost(spt::Structure::Adapter, 8, 768, 768), 13064);
}

}  // namespace
}  // namespace vpet::peft
