#include "vpet/image/resample.h"

#include <gtest/gtest.h>

#include "fixture_data.h"
#include "vpet/error.h"

namespace vpet::image {
namespace {

using testing::manifest;

TEST(Resize, BitIdenticalToPillow) {
  int checked = 0;
  for (const auto& entry : manifest()["resize"]) {
    const Image source = testing::read_raw_image(entry["source"], entry["width"], entry["height"],
                                                 entry["channels"]);
    const int w = entry["out_width"], h = entry["out_height"];
    const std::string interp = entry["interp"];
    const std::string what = entry["source"].get<std::string>() + " -> " + std::to_string(w) + "x" +
                             std::to_string(h) + " " + interp;
    const Image out =
        resize(source, w, h, interp == "bicubic" ? Interp::bicubic : Interp::bilinear);
    ASSERT_EQ(out.width, w) << what;
    ASSERT_EQ(out.height, h) << what;
    ASSERT_EQ(out.channels, source.channels) << what;
    EXPECT_EQ(out.pixels, testing::read_bytes(entry["expected"])) << what;
    ++checked;
  }
  EXPECT_GE(checked, 38);
}

TEST(Resize, SameSizeIsACopy) {
  const Image image{2, 1, 3, {1, 2, 3, 4, 5, 6}};
  EXPECT_EQ(resize(image, 2, 1, Interp::bicubic).pixels, image.pixels);
}

TEST(Resize, ConstantImageStaysConstant) {
  // Weights are normalised to sum to one, so flat areas survive any scale exactly.
  const Image flat = make_image(13, 7, 3);
  Image grey = flat;
  std::fill(grey.pixels.begin(), grey.pixels.end(), 77);
  for (Interp interp : {Interp::bilinear, Interp::bicubic})
    for (int size : {1, 5, 13, 40}) {
      const Image out = resize(grey, size, size + 3, interp);
      EXPECT_TRUE(
          std::all_of(out.pixels.begin(), out.pixels.end(), [](uint8_t v) { return v == 77; }));
    }
}

TEST(Resize, RejectsEmptyOutput) {
  EXPECT_THROW(resize(make_image(4, 4, 1), 0, 4, Interp::bilinear), Error);
}

}  // namespace
}  // namespace vpet::image
