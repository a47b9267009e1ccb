#include "fixture_data.h"

#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace vpet::image::testing {

std::string fixture_path(const std::string& relative) {
  return std::string(VPET_FIXTURES) + "/images/" + relative;
}

std::vector<uint8_t> read_bytes(const std::string& relative) {
  std::ifstream in(fixture_path(relative), std::ios::binary);
  if (!in) throw std::runtime_error("missing fixture " + relative);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

const nlohmann::json& manifest() {
  static const nlohmann::json parsed = [] {
    const std::vector<uint8_t> text = read_bytes("manifest.json");
    return nlohmann::json::parse(text.begin(), text.end());
  }();
  return parsed;
}

std::vector<float> read_floats(const std::string& relative) {
  const std::vector<uint8_t> bytes = read_bytes(relative);
  std::vector<float> values(bytes.size() / sizeof(float));
  std::memcpy(values.data(), bytes.data(), values.size() * sizeof(float));  // little-endian host
  return values;
}

Image read_raw_image(const std::string& relative, int width, int height, int channels) {
  Image image{width, height, channels, read_bytes(relative)};
  if (image.pixels.size() != static_cast<size_t>(width) * height * channels)
    throw std::runtime_error(relative + ": size does not match its shape");
  return image;
}

}  // namespace vpet::image::testing
