// The image fixtures written by tests/fixtures/make_image_fixtures.py: inputs, Pillow's and
// torchvision's outputs as raw arrays, and the manifest that describes them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "vpet/image/image.h"

namespace vpet::image::testing {

std::string fixture_path(const std::string& relative);  // under tests/fixtures/images
const nlohmann::json& manifest();
std::vector<uint8_t> read_bytes(const std::string& relative);
std::vector<float> read_floats(const std::string& relative);
// A raw HWC .u8 array with the shape given by the entry's keys.
Image read_raw_image(const std::string& relative, int width, int height, int channels);

}  // namespace vpet::image::testing
