#include "vpet/image/preprocess.h"

#include <gtest/gtest.h>

#include <cmath>

#include "fixture_data.h"
#include "vpet/error.h"
#include "vpet/image/decode.h"

namespace vpet::image {
namespace {

using testing::fixture_path;
using testing::manifest;

Preprocess preprocess_of(const nlohmann::json& entry) {
  Preprocess p;
  p.size = entry["size"];
  p.resize = parse_resize_mode(entry["resize"], "--resize");
  p.crop_fraction = entry["crop_fraction"];
  p.interp = parse_interp(entry["interp"], "--interp");
  for (int c = 0; c < 3; ++c) {
    p.mean[c] = entry["mean"][c].get<float>();
    p.std[c] = entry["std"][c].get<float>();
  }
  p.channels = entry["channels"];
  return p;
}

TEST(Preprocess, MatchesTorchvisionTransforms) {
  int checked = 0;
  for (const auto& entry : manifest()["preprocess"]) {
    const Preprocess p = preprocess_of(entry);
    SCOPED_TRACE(entry.dump());
    const Image geometry = apply_geometry(read_image(fixture_path(entry["file"])), p);
    ASSERT_EQ(geometry.width, p.size);
    ASSERT_EQ(geometry.height, p.size);

    // torchvision works on convert("RGB") where vpet keeps a gray file gray; the planes
    // are the same, so compare each expected channel with ours.
    const int expected_channels = entry["geometry_channels"];
    const std::vector<uint8_t> expected = testing::read_bytes(entry["geometry"]);
    ASSERT_EQ(expected.size(), static_cast<size_t>(p.size) * p.size * expected_channels);
    size_t differing = 0;
    for (size_t i = 0; i < expected.size(); ++i) {
      const size_t pixel = i / expected_channels;
      const int c = geometry.channels == 1 ? 0 : static_cast<int>(i % expected_channels);
      differing += geometry.pixels[pixel * geometry.channels + c] != expected[i];
    }
    EXPECT_EQ(differing, 0u);

    const std::vector<float> reference = testing::read_floats(entry["normalized"]);
    std::vector<float> tensor(static_cast<size_t>(p.channels) * p.size * p.size);
    ASSERT_EQ(reference.size(), tensor.size());
    normalize(geometry, p, tensor.data());
    float worst = 0;
    for (size_t i = 0; i < tensor.size(); ++i)
      worst = std::max(worst, std::fabs(tensor[i] - reference[i]));
    EXPECT_LE(worst, 1e-6f);
    ++checked;
  }
  EXPECT_GE(checked, 10);
}

TEST(Preprocess, CenterCropRoundsHalvesToEven) {
  // A 1x(size+d) column cropped to 1 row: the kept value is the crop's top offset.
  Preprocess p;
  p.size = 1;
  p.resize = ResizeMode::crop;
  p.crop_fraction = 1.0;
  for (int d : {0, 1, 2, 3, 4, 5, 6, 7}) {
    Image column = make_image(1, 1 + d, 1);
    for (int y = 0; y <= d; ++y) column.pixels[y] = static_cast<uint8_t>(y);
    const int python_round = static_cast<int>(std::nearbyint(d / 2.0));  // ties to even
    EXPECT_EQ(apply_geometry(column, p).pixels[0], python_round) << "d=" << d;
  }
}

TEST(Preprocess, GrayModelGetsPillowLuma) {
  Preprocess p;
  p.size = 1;
  p.channels = 1;
  p.mean = {0, 0, 0};
  p.std = {1, 1, 1};
  const Image rgb{1, 1, 3, {200, 100, 50}};
  const Image gray = apply_geometry(rgb, p);
  ASSERT_EQ(gray.channels, 1);
  EXPECT_EQ(gray.pixels[0], (200 * 19595 + 100 * 38470 + 50 * 7471 + 0x8000) >> 16);
  float value = 0;
  normalize(rgb, p, &value);  // normalize converts too when given RGB
  EXPECT_EQ(value, static_cast<float>(gray.pixels[0]) / 255.0f);
}

TEST(Preprocess, GrayImageIsReplicatedForAnRgbModel) {
  Preprocess p;
  const Image gray{2, 1, 1, {0, 255}};
  float out[6];
  normalize(gray, p, out);
  for (int c = 0; c < 3; ++c) {
    EXPECT_FLOAT_EQ(out[c * 2], (0.0f - p.mean[c]) / p.std[c]);
    EXPECT_FLOAT_EQ(out[c * 2 + 1], (1.0f - p.mean[c]) / p.std[c]);
  }
}

TEST(PreprocessOptions, ParsesValuesAndNamesTheOptionOnError) {
  EXPECT_EQ(parse_resize_mode("crop", "--resize"), ResizeMode::crop);
  EXPECT_EQ(parse_interp("bicubic", "--interp"), Interp::bicubic);
  EXPECT_EQ(parse_triple("0.5,0.25,-1e-1", "--mean"), (std::array<float, 3>{0.5f, 0.25f, -0.1f}));
  EXPECT_EQ(normalization_named("clip", "--norm").std[2], 0.27577711f);
  EXPECT_EQ(normalization_named("none", "--norm").std[0], 1.0f);
  for (const char* bad : {"", "1,2", "1,2,3,4", "1,,3", "a,b,c", "1,2,3x", "1,2,nan"}) {
    try {
      parse_triple(bad, "--mean");
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const UsageError& e) {
      EXPECT_EQ(std::string(e.what()).rfind("--mean: ", 0), 0u) << e.what();
    }
  }
  EXPECT_THROW(parse_resize_mode("Crop", "--resize"), UsageError);
  EXPECT_THROW(parse_interp("nearest", "--interp"), UsageError);
  EXPECT_THROW(normalization_named("imagenet21k", "--norm"), UsageError);
}

TEST(PreprocessOptions, ValidateRefusesNonsense) {
  Preprocess p;
  p.crop_fraction = 1.2;
  EXPECT_THROW(validate(p), UsageError);
  p = Preprocess();
  p.std[1] = 0;
  EXPECT_THROW(validate(p), UsageError);
  p = Preprocess();
  p.channels = 2;
  EXPECT_THROW(apply_geometry(make_image(2, 2, 3), p), UsageError);
}

TEST(PreprocessOptions, JsonRecordsEverythingAndReadsBack) {
  Preprocess p;
  p.size = 248;
  p.resize = ResizeMode::crop;
  p.crop_fraction = 0.9;
  p.interp = Interp::bicubic;
  const Normalization clip = normalization_named("clip", "--norm");
  p.mean = clip.mean;
  p.std = clip.std;
  const nlohmann::json record = to_json(p);
  EXPECT_EQ(record.dump(), R"({"channels":3,"crop_fraction":0.9,"interp":"bicubic",)"
                           R"("mean":[0.48145467,0.4578275,0.40821072],"resize":"crop","size":248,)"
                           R"("std":[0.26862955,0.2613026,0.2757771]})");
  const Preprocess back = preprocess_from_json(nlohmann::json::parse(record.dump()));
  EXPECT_EQ(back.size, p.size);
  EXPECT_EQ(back.resize, p.resize);
  EXPECT_EQ(back.crop_fraction, p.crop_fraction);
  EXPECT_EQ(back.interp, p.interp);
  EXPECT_EQ(back.mean, p.mean);
  EXPECT_EQ(back.std, p.std);
  EXPECT_EQ(back.channels, p.channels);
  EXPECT_THROW(preprocess_from_json(nlohmann::json{{"size", 224}}), Error);
}

}  // namespace
}  // namespace vpet::image
