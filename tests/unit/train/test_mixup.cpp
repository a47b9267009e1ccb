// MixUp/CutMix: the Beta draws follow Beta(α, α)'s law; a batch's draw
// depends on (seed, epoch, step) alone; and on vpet's draws the mixed images,
// targets and loss equal a transcription of timm's Mixup (batch mode) and
// SoftTargetCrossEntropy (tests/unit/train/timm_mixup.py) to 1e-6.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "vpet/error.h"
#include "vpet/image/augment_random.h"
#include "vpet/io/stream.h"
#include "vpet/train/loss.h"
#include "vpet/train/mixup.h"

namespace {

namespace fs = std::filesystem;
using vpet::train::MixupDraw;
using vpet::train::MixupOptions;

MixupOptions options(double mixup, double cutmix, double prob = 1.0) {
  MixupOptions o;
  o.mixup_alpha = mixup;
  o.cutmix_alpha = cutmix;
  o.prob = prob;
  return o;
}

TEST(Mixup, BetaDrawsHaveBetaMoments) {
  for (const double alpha : {0.05, 0.2, 0.8, 1.0, 4.0}) {
    double sum = 0.0, squares = 0.0;
    const int n = 40000;
    for (int i = 0; i < n; ++i) {
      vpet::image::AugmentRandom random(3, 0, i);
      const double x = random.symmetric_beta(alpha);
      ASSERT_TRUE(x >= 0.0 && x <= 1.0) << alpha << " gave " << x;
      sum += x;
      squares += x * x;
    }
    const double mean = sum / n, variance = squares / n - mean * mean;
    // Beta(α, α): mean 1/2, variance 1 / (4 (2α + 1)).
    EXPECT_NEAR(mean, 0.5, 0.01) << alpha;
    EXPECT_NEAR(variance, 1.0 / (4.0 * (2.0 * alpha + 1.0)), 0.04 * variance + 1e-4) << alpha;
  }
}

TEST(Mixup, DrawsDependOnSeedEpochAndStepOnly) {
  const MixupOptions both = options(0.8, 1.0, 0.7);
  const MixupDraw a = vpet::train::draw_mixup(both, 32, 32, 5, 2, 3);
  const MixupDraw b = vpet::train::draw_mixup(both, 32, 32, 5, 2, 3);
  EXPECT_EQ(a.mixed, b.mixed);
  EXPECT_EQ(a.cutmix, b.cutmix);
  EXPECT_EQ(a.lam, b.lam);
  int mixed = 0, cutmix = 0;
  const int n = 4000;
  for (int step = 0; step < n; ++step) {
    const MixupDraw d = vpet::train::draw_mixup(both, 32, 32, 5, 1, step);
    mixed += d.mixed;
    cutmix += d.cutmix;
    if (d.cutmix) {
      EXPECT_TRUE(d.center_y >= 0 && d.center_y < 32 && d.center_x >= 0 && d.center_x < 32);
    }
  }
  EXPECT_NEAR(double(mixed) / n, 0.7, 0.03);
  EXPECT_NEAR(double(cutmix) / mixed, 0.5, 0.03);  // timm's switch_prob
  EXPECT_FALSE(vpet::train::draw_mixup(options(1.0, 0.0, 0.0), 8, 8, 0, 0, 0).mixed);
  EXPECT_TRUE(vpet::train::draw_mixup(options(0.0, 1.0), 8, 8, 0, 0, 0).cutmix);
  EXPECT_FALSE(vpet::train::draw_mixup(options(1.0, 0.0), 8, 8, 0, 0, 0).cutmix);
}

TEST(Mixup, BadValuesAreUsageErrors) {
  EXPECT_THROW(options(-0.1, 0.0).validate(), vpet::UsageError);
  EXPECT_THROW(options(0.0, -1.0).validate(), vpet::UsageError);
  EXPECT_THROW(options(0.0, std::nan("")).validate(), vpet::UsageError);
  EXPECT_THROW(options(1.0, 0.0, 1.5).validate(), vpet::UsageError);
  EXPECT_THROW(options(1.0, 0.0, -0.5).validate(), vpet::UsageError);
  EXPECT_NO_THROW(options(0.8, 1.0, 0.0).validate());
}

TEST(Mixup, MatchesTimmsTranscription) {
  const std::string python = "/usr/bin/python3";
  if (access(python.c_str(), X_OK) != 0) GTEST_SKIP() << python << " is missing";
  std::string pattern = (fs::temp_directory_path() / "vpet-mixup-XXXXXX").string();
  ASSERT_NE(mkdtemp(pattern.data()), nullptr);
  const fs::path dir = pattern;
  const std::string file = (dir / "cases.vpet").string();

  struct Setting {
    MixupOptions mixup;
    std::int64_t batch, classes;
    double smoothing;
  };
  const Setting settings[] = {{options(0.8, 0.0), 4, 7, 0.1},
                              {options(0.0, 1.0), 5, 3, 0.0},
                              {options(0.8, 1.0, 0.6), 6, 10, 0.1},
                              {options(0.2, 0.3), 1, 4, 0.2}};
  int kinds[3] = {0, 0, 0};  // unmixed, MixUp, CutMix
  {
    vpet::io::StreamWriter out(file, vpet::io::make_header("mixup-cases", "unit_train", {}));
    torch::manual_seed(0);
    for (const Setting& s : settings) {
      for (std::int64_t step = 0; step < 12; ++step) {
        const int height = 9 + int(step % 3), width = 11;
        const MixupDraw draw = vpet::train::draw_mixup(s.mixup, height, width, 17, 1, step);
        const torch::Tensor inputs = torch::randn({s.batch, 3, height, width});
        const torch::Tensor labels = torch::randint(s.classes, {s.batch}, torch::kInt64);
        const torch::Tensor logits = torch::randn({s.batch, s.classes});
        const vpet::train::MixedBatch mixed =
            vpet::train::mix_batch(inputs, labels, draw, s.classes, s.smoothing);
        ++kinds[!draw.mixed ? 0 : draw.cutmix ? 2 : 1];
        vpet::io::Record record;
        record.tensors = {
            {"inputs", inputs},
            {"labels", labels},
            {"logits", logits},
            {"mixed", mixed.inputs},
            {"targets", mixed.targets},
            {"loss", vpet::train::soft_target_cross_entropy(logits, mixed.targets)},
        };
        record.fields = {
            {"draw_mixed", draw.mixed},  {"draw_cutmix", draw.cutmix}, {"draw_lam", draw.lam},
            {"center_y", draw.center_y}, {"center_x", draw.center_x},  {"classes", s.classes},
            {"smoothing", s.smoothing},  {"lam", mixed.lam},           {"box", mixed.box}};
        out.write(record);
      }
    }
    out.close();
  }
  EXPECT_GT(kinds[0], 0);
  EXPECT_GT(kinds[1], 0);
  EXPECT_GT(kinds[2], 0);
  const std::string script = std::string(VPET_FIXTURES) + "/../unit/train/timm_mixup.py";
  const int status = std::system((python + " " + script + " " + file).c_str());
  fs::remove_all(dir);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 77) GTEST_SKIP() << "Python lacks torch or msgpack_numpy";
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
