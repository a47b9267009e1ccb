// Adapter bundles: a round trip, the errors a bad file gets, and the
// backbone check.
#include <gtest/gtest.h>

#include "../data/test_files.h"
#include "vpet/error.h"
#include "vpet/io/stream.h"
#include "vpet/model/checkpoint.h"
#include "vpet/peft/bundle.h"

namespace {

using vpet::peft::Bundle;

Bundle sample_bundle() {
  Bundle bundle;
  bundle.method = "bitfit";
  bundle.config = {{"note", "x"}};
  bundle.backbone = {{"fingerprint", "sha256:0123456789abcdef"}, {"width", 48}};
  bundle.classes = {"a", "b", "c"};
  bundle.preprocess = {{"size", 32}};
  bundle.training = {{"epochs", 2}};
  bundle.tensors = {{"backbone.norm.bias", torch::arange(48, torch::kFloat32)}};
  bundle.head_weight = torch::randn({3, 48});
  bundle.head_bias = torch::randn({3});
  return bundle;
}

TEST(Bundle, RoundTrip) {
  vpet::data::test_files::TempDir dir;
  const Bundle bundle = sample_bundle();
  vpet::peft::write_bundle(dir / "a.vpet", bundle, "test", {"test", "-o", "a.vpet"});
  const Bundle read = vpet::peft::read_bundle(dir / "a.vpet");
  EXPECT_EQ(read.method, "bitfit");
  EXPECT_EQ(read.config, bundle.config);
  EXPECT_EQ(read.fingerprint(), "sha256:0123456789abcdef");
  EXPECT_EQ(read.classes, bundle.classes);
  EXPECT_EQ(read.training, bundle.training);
  ASSERT_EQ(read.tensors.size(), 1u);
  EXPECT_EQ(read.tensors[0].first, "backbone.norm.bias");
  EXPECT_TRUE(torch::equal(read.tensors[0].second, bundle.tensors[0].second));
  EXPECT_TRUE(torch::equal(read.head_weight, bundle.head_weight));
  EXPECT_TRUE(torch::equal(read.head_bias, bundle.head_bias));
}

TEST(Bundle, RefusesWhatIsNotABundle) {
  vpet::data::test_files::TempDir dir;
  {
    vpet::io::StreamWriter writer(dir / "f.vpet", vpet::io::make_header("features", "t", {}));
    writer.close();
  }
  EXPECT_THROW(vpet::peft::read_bundle(dir / "f.vpet"), vpet::Error);
  Bundle headless = sample_bundle();
  headless.head_bias = torch::Tensor();
  EXPECT_THROW(vpet::peft::write_bundle(dir / "h.vpet", headless, "t", {}), vpet::Error);
  Bundle wrong = sample_bundle();
  wrong.classes = {"a", "b"};
  vpet::peft::write_bundle(dir / "w.vpet", wrong, "t", {});
  EXPECT_THROW(vpet::peft::read_bundle(dir / "w.vpet"), vpet::Error);
}

TEST(Bundle, RefusesAnotherBackboneNamingBothFingerprints) {
  vpet::model::Backbone backbone =
      vpet::model::load_backbone(std::string(VPET_FIXTURES) + "/vit/a_timm.safetensors");
  const Bundle bundle = sample_bundle();
  try {
    vpet::peft::check_backbone(bundle, backbone, "a.vpet");
    ADD_FAILURE() << "accepted";
  } catch (const vpet::Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("sha256:0123456789abcdef"), std::string::npos) << message;
    EXPECT_NE(message.find(backbone.fingerprint), std::string::npos) << message;
    EXPECT_NE(message.find("a.vpet"), std::string::npos) << message;
  }
  Bundle same = sample_bundle();
  same.backbone["fingerprint"] = backbone.fingerprint;
  EXPECT_NO_THROW(vpet::peft::check_backbone(same, backbone, "a.vpet"));
}

}  // namespace
