#include "vpet/image/decode.h"

#include <gtest/gtest.h>

#include "fixture_data.h"
#include "vpet/error.h"

namespace vpet::image {
namespace {

using testing::fixture_path;
using testing::manifest;
using testing::read_bytes;

// Counts differing samples so a failure says how far off, not just that it is.
void expect_same_pixels(const Image& actual, const Image& expected, const std::string& what) {
  ASSERT_EQ(actual.width, expected.width) << what;
  ASSERT_EQ(actual.height, expected.height) << what;
  ASSERT_EQ(actual.channels, expected.channels) << what;
  ASSERT_EQ(actual.pixels.size(), expected.pixels.size()) << what;
  size_t differing = 0;
  int worst = 0;
  for (size_t i = 0; i < actual.pixels.size(); ++i) {
    const int d = std::abs(actual.pixels[i] - expected.pixels[i]);
    differing += d != 0;
    worst = std::max(worst, d);
  }
  EXPECT_EQ(differing, 0u) << what << ": max difference " << worst;
}

TEST(Decode, MatchesPillowOnEveryGoodFixture) {
  int checked = 0;
  for (const auto& entry : manifest()["decode"]) {
    const std::string file = entry["file"];
    SCOPED_TRACE(file);
    const Image expected = testing::read_raw_image(entry["expected"], entry["width"],
                                                   entry["height"], entry["channels"]);
    expect_same_pixels(read_image(fixture_path(file)), expected, file);
    ++checked;
  }
  EXPECT_GE(checked, 25);
}

TEST(Decode, BrokenFilesThrowErrorsNamingTheFile) {
  for (const auto& entry : manifest()["broken"]) {
    const std::string path = fixture_path(entry.get<std::string>());
    try {
      read_image(path);
      ADD_FAILURE() << path << " decoded without error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }
}

TEST(Decode, MessagesSayWhatIsWrong) {
  auto message = [](const std::string& file) -> std::string {
    try {
      read_image(fixture_path(file));
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_EQ(message("text.jpg"), fixture_path("text.jpg") + ": not a JPEG or PNG image");
  EXPECT_NE(message("empty.png").find("empty file"), std::string::npos);
  EXPECT_NE(message("truncated.png").find(": truncated PNG data (libpng: "), std::string::npos);
  EXPECT_NE(message("truncated.jpg").find(": truncated JPEG data (libjpeg: "), std::string::npos);
  EXPECT_NE(message("bad_crc.png").find("CRC"), std::string::npos) << message("bad_crc.png");
  EXPECT_NE(message("huge.png").find("too large"), std::string::npos);
  EXPECT_NE(message("huge.jpg").find("too large"), std::string::npos);
  EXPECT_NE(message("implausible.png").find("cannot fit"), std::string::npos);
}

TEST(Decode, EveryPrefixOfAGoodFileFailsCleanly) {
  // Truncation at any byte must end in vpet::Error, never a crash or a hang. Like Pillow,
  // a PNG whose pixel data is complete decodes even if (part of) its 12-byte IEND is gone.
  for (std::string file : {"rgb8.png", "interlaced_rgb.png", "progressive.jpg", "cmyk.jpg"}) {
    const std::vector<uint8_t> bytes = read_bytes(file);
    const bool png = file.find(".png") != std::string::npos;
    for (size_t n = 0; n < bytes.size(); ++n) {
      try {
        decode_image(bytes.data(), n, file);
        if (!png || n < bytes.size() - 12)
          ADD_FAILURE() << file << " cut to " << n << " bytes decoded";
      } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()).rfind(file + ": ", 0), 0u) << e.what();
      }
    }
  }
}

TEST(Decode, FormatComesFromTheBytesNotTheName) {
  const std::vector<uint8_t> png = read_bytes("gray8.png");
  const Image image = decode_image(png.data(), png.size(), "looks-like.jpg");
  EXPECT_EQ(image.channels, 1);
  EXPECT_EQ(image.width, 37);
}

TEST(Decode, MissingFileAndDirectoryAreErrors) {
  EXPECT_THROW(read_image(fixture_path("no-such-file.png")), Error);
  EXPECT_THROW(read_image(fixture_path("expected")), Error);
}

}  // namespace
}  // namespace vpet::image
