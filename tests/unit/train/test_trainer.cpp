// The loop on the tiny task: each method learns, the frozen backbone stays
// bit-identical, and a run resumed from a checkpoint (at an epoch boundary or
// mid-epoch after a stop) ends with the same bits as an uninterrupted one.
#include <gtest/gtest.h>

#include <set>

#include "tiny_task.h"
#include "vpet/error.h"
#include "vpet/peft/registry.h"
#include "vpet/train/checkpoint.h"
#include "vpet/train/head.h"
#include "vpet/train/trainer.h"

namespace {

using vpet::train::Checkpoint;
using vpet::train::Examples;
using vpet::train::TrainCallbacks;
using vpet::train::Trainer;
using vpet::train::TrainOptions;
namespace test = vpet::train::test;

struct Task {
  Task() {
    test::write_tiny_task(dir / "train", 8, 0);
    test::write_tiny_task(dir / "val", 4, 1);
    train = test::decode(dir / "train");
    val = test::decode(dir / "val");
  }
  vpet::data::test_files::TempDir dir;
  std::shared_ptr<vpet::data::ImageCache> train, val;
};

Task& task() {
  static Task shared;
  return shared;
}

// Everything one run needs, built as peft-train builds it.
struct TrainingRun {
  TrainingRun(const std::string& method_name, const TrainOptions& options,
              const nlohmann::json& config = nlohmann::json::object()) {
    torch::manual_seed(options.seed);
    torch::Generator generator = at::detail::createCPUGenerator(options.seed);
    // As peft-train does: the backbone and the head on the device before the
    // method attaches (it creates its tensors beside the backbone's).
    backbone.vit->to(options.device);
    head = vpet::train::make_head(48, 3, generator);
    head->to(options.device);
    method = vpet::peft::create_method(method_name, config);
    method->attach(backbone.vit, generator);
    auto examples = [&](const std::shared_ptr<vpet::data::ImageCache>& images) {
      return method->changes_backbone_features()
                 ? Examples::images(images)
                 : vpet::train::cache_features(*images, backbone.vit, 16, options.device,
                                               options.precision);
    };
    trainer = std::make_unique<Trainer>(backbone.vit, *method, head, examples(task().train),
                                        examples(task().val), options);
  }
  // Every trained tensor, by name.
  std::vector<std::pair<std::string, torch::Tensor>> weights() const {
    return trainer->checkpoint().params;
  }

  vpet::model::Backbone backbone = test::tiny_backbone();
  torch::nn::Linear head{nullptr};
  std::unique_ptr<vpet::peft::Method> method;
  std::unique_ptr<Trainer> trainer;
};

TrainOptions quick(std::int64_t epochs) {
  TrainOptions options;
  options.epochs = epochs;
  options.batch = 8;
  options.lr = 1e-2;
  return options;
}

void expect_same_weights(const TrainingRun& a, const TrainingRun& b) {
  const auto wa = a.weights(), wb = b.weights();
  ASSERT_EQ(wa.size(), wb.size());
  for (std::size_t i = 0; i < wa.size(); ++i) {
    EXPECT_EQ(wa[i].first, wb[i].first);
    EXPECT_TRUE(torch::equal(wa[i].second, wb[i].second)) << wa[i].first;
  }
}

class EachMethod : public ::testing::TestWithParam<std::string> {};

TEST_P(EachMethod, LearnsAndLeavesTheFrozenBackboneBitIdentical) {
  TrainingRun run(GetParam(), quick(6));
  ASSERT_EQ(run.trainer->run(), Trainer::Outcome::Finished);
  const nlohmann::json summary = run.trainer->summary();
  EXPECT_GT(summary["final_val_top1"].get<double>(), 60.0) << summary.dump();  // chance: 33%
  EXPECT_EQ(summary["steps"], 6 * 3);

  std::set<const void*> trained;
  for (const auto& [name, tensor] : run.method->trainable()) {
    trained.insert(tensor.unsafeGetTensorImpl());
  }
  const vpet::model::Backbone fresh = test::tiny_backbone();
  const auto after = run.backbone.vit->named_parameters();
  const auto before = fresh.vit->named_parameters();
  for (const auto& item : after) {
    if (trained.count(item.value().unsafeGetTensorImpl())) continue;
    EXPECT_FALSE(item.value().requires_grad()) << item.key();
    EXPECT_FALSE(item.value().grad().defined()) << item.key();
    EXPECT_TRUE(torch::equal(item.value(), before[item.key()])) << item.key();
  }
  EXPECT_FALSE(run.backbone.vit->is_training());
}

INSTANTIATE_TEST_SUITE_P(Baselines, EachMethod, ::testing::Values("linear", "full", "bitfit"));

TEST(Trainer, ResumeFromAnEpochCheckpointIsBitIdentical) {
  TrainOptions options = quick(3);
  options.drop_path = 0.2;  // draws from the generator the checkpoint must restore
  options.warmup = 1;
  TrainingRun whole("bitfit", options);
  std::vector<Checkpoint> saved;
  TrainCallbacks callbacks;
  callbacks.save_checkpoint = [&](const Checkpoint& c) { saved.push_back(c); };
  whole.trainer->run(callbacks);
  ASSERT_EQ(saved.size(), 3u);

  // Through a file, as --checkpoint/--resume do.
  vpet::data::test_files::TempDir dir;
  vpet::train::write_checkpoint(dir / "ckpt.vpet", saved[0], "test", {});
  TrainingRun resumed("bitfit", options);
  resumed.trainer->resume(vpet::train::read_checkpoint(dir / "ckpt.vpet"));
  resumed.trainer->run();
  expect_same_weights(whole, resumed);
  EXPECT_EQ(resumed.trainer->summary()["steps"], whole.trainer->summary()["steps"]);
}

// A stop after each step of a 3-epoch run (3 steps an epoch), mid-epoch and
// after an epoch's last step alike: the resumed run ends with the same bits.
class StopAfterStep : public ::testing::TestWithParam<int> {};

TEST_P(StopAfterStep, ThenResumeIsBitIdentical) {
  TrainOptions options = quick(3);
  options.drop_path = 0.1;
  TrainingRun whole("full", options);
  whole.trainer->run();

  const int stop_step = GetParam();
  TrainingRun stopped("full", options);
  int steps = 0;
  Checkpoint last;
  TrainCallbacks callbacks;
  callbacks.stop_requested = [&] { return ++steps >= stop_step; };
  callbacks.save_checkpoint = [&](const Checkpoint& c) { last = c; };
  ASSERT_EQ(stopped.trainer->run(callbacks), Trainer::Outcome::Stopped);
  // An epoch's last step stops at the boundary, after the epoch's checkpoint.
  EXPECT_EQ(last.epoch, stop_step / 3);
  EXPECT_EQ(last.step_in_epoch, stop_step % 3);
  EXPECT_EQ(last.global_step, stop_step);

  TrainingRun resumed("full", options);
  resumed.trainer->resume(last);
  ASSERT_EQ(resumed.trainer->run(), Trainer::Outcome::Finished);
  expect_same_weights(whole, resumed);
  EXPECT_EQ(resumed.trainer->summary()["steps"], whole.trainer->summary()["steps"]);
}

INSTANTIATE_TEST_SUITE_P(Trainer, StopAfterStep, ::testing::Values(1, 3, 4, 6));

TEST(Trainer, AStopAfterTheLastStepFinishesTheRun) {
  TrainingRun run("linear", quick(2));
  int steps = 0, checkpoints = 0;
  TrainCallbacks callbacks;
  callbacks.on_step = [&](const vpet::train::StepReport&) { ++steps; };
  callbacks.stop_requested = [&] { return steps == 6; };  // the last of 2 × 3
  callbacks.save_checkpoint = [&](const Checkpoint&) { ++checkpoints; };
  EXPECT_EQ(run.trainer->run(callbacks), Trainer::Outcome::Finished);
  EXPECT_EQ(checkpoints, 2);
}

TEST(Trainer, ResumeRestoresStructureThatTrainingChanges) {
  // PGN's BatchNorm statistics move every step; a checkpoint carries them.
  const nlohmann::json pgn = {{"pgn_prompts", 2}, {"pgn_library", 4}, {"pgn_input_size", 32}};
  TrainOptions options = quick(2);
  TrainingRun whole("pgn", options, pgn);
  std::vector<Checkpoint> saved;
  TrainCallbacks callbacks;
  callbacks.save_checkpoint = [&](const Checkpoint& c) { saved.push_back(c); };
  whole.trainer->run(callbacks);
  vpet::data::test_files::TempDir dir;
  vpet::train::write_checkpoint(dir / "ckpt.vpet", saved[0], "test", {});
  TrainingRun resumed("pgn", options, pgn);
  resumed.trainer->resume(vpet::train::read_checkpoint(dir / "ckpt.vpet"));
  resumed.trainer->run();
  expect_same_weights(whole, resumed);
  const auto a = whole.method->structure(), b = resumed.method->structure();
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
  }
}

TEST(Trainer, ResumeWithOtherSettingsIsRefused) {
  TrainingRun first("linear", quick(1));
  first.trainer->run();
  TrainOptions other = quick(1);
  other.lr = 0.5;
  TrainingRun second("linear", other);
  try {
    second.trainer->resume(first.trainer->checkpoint());
    ADD_FAILURE() << "resumed";
  } catch (const vpet::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("lr"), std::string::npos) << e.what();
  }
}

TEST(Trainer, RefusesAnUnfrozenBackboneTensor) {
  vpet::model::Backbone backbone = test::tiny_backbone();
  auto method = vpet::peft::create_method("linear");
  backbone.vit->norm->weight.set_requires_grad(true);
  torch::Generator generator = at::detail::createCPUGenerator(0);
  EXPECT_THROW(Trainer(backbone.vit, *method, vpet::train::make_head(48, 3, generator),
                       Examples::images(task().train), std::nullopt, quick(1)),
               vpet::Error);
}

TEST(Trainer, Bf16AutocastTracksFp32AndKeepsTheWeightsFp32) {
  TrainOptions fp32 = quick(2);
  TrainOptions bf16 = fp32;
  bf16.precision = vpet::model::Precision::Bf16;
  const nlohmann::json config = {{"lora_dropout", 0.0}};
  TrainingRun exact("lora", fp32, config), mixed("lora", bf16, config);
  exact.trainer->run();
  mixed.trainer->run();
  const double a = exact.trainer->summary()["final_train_loss"].get<double>();
  const double b = mixed.trainer->summary()["final_train_loss"].get<double>();
  // bf16 keeps 8 bits of mantissa: the products differ by ~0.4%, not the run.
  EXPECT_NEAR(b, a, 0.05 * std::abs(a) + 1e-3);
  EXPECT_EQ(mixed.trainer->settings()["precision"], "bf16");
  for (const auto& [name, tensor] : mixed.weights()) {
    EXPECT_EQ(tensor.scalar_type(), torch::kFloat32) << name;
  }
}

// The same run on a GPU and on the CPU: every method's tensors end the same
// (SGD, so that an update is linear in the gradient; no dropout, whose draws
// differ between devices; no TF32, which cuDNN's convolutions use by default).
class OnCuda : public ::testing::TestWithParam<std::string> {};

TEST_P(OnCuda, TrainsAsOnTheCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  at::globalContext().setAllowTF32CuDNN(false);
  at::globalContext().setAllowTF32CuBLAS(false);
  const nlohmann::json config = {{"lora_dropout", 0.0}, {"pgn_input_size", 32}};
  TrainOptions cpu = quick(1);
  cpu.optimizer.kind = vpet::train::OptimizerKind::Sgd;
  TrainOptions gpu = cpu;
  gpu.device = torch::Device(torch::kCUDA);
  TrainingRun on_cpu(GetParam(), cpu, config), on_gpu(GetParam(), gpu, config);
  on_cpu.trainer->run();
  on_gpu.trainer->run();
  const auto a = on_cpu.weights(), b = on_gpu.weights();
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    ASSERT_TRUE(b[i].second.device().is_cuda()) << b[i].first;
    EXPECT_TRUE(torch::allclose(a[i].second, b[i].second.cpu(), 1e-3, 1e-4)) << b[i].first;
  }
  const nlohmann::json summary = on_gpu.trainer->summary();
  EXPECT_NEAR(summary["final_train_loss"].get<double>(),
              on_cpu.trainer->summary()["final_train_loss"].get<double>(), 1e-4);
  // The GPU allocator's peak, not the process's.
  const nlohmann::json measured = on_gpu.trainer->measurements();
  EXPECT_GT(measured["peak_memory_bytes"].get<std::int64_t>(), 0);
  EXPECT_NE(measured["peak_memory_bytes"], measured["peak_rss_bytes"]);
}

INSTANTIATE_TEST_SUITE_P(Methods, OnCuda,
                         ::testing::Values("linear", "full", "bitfit", "vpt-shallow", "vpt-deep",
                                           "lora", "adapter", "memory", "lion", "pgn"));

}  // namespace
