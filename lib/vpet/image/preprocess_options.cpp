// The textual side of Preprocess: option values, named normalisations, JSON records.
#include <charconv>
#include <cmath>
#include <cstdlib>

#include "vpet/error.h"
#include "vpet/image/preprocess.h"

namespace vpet::image {

namespace {

[[noreturn]] void bad_value(const std::string& option, const std::string& value,
                            const std::string& expected) {
  throw UsageError(option + ": invalid value '" + value + "' (expected " + expected + ")");
}

// The double whose shortest decimal is the float's own shortest decimal (0.485f -> 0.485,
// not 0.48500001430511475), so headers read like the numbers the user typed and parse
// back to the same float.
double as_decimal(float value) {
  char text[32];
  const auto result = std::to_chars(text, text + sizeof text - 1, value);
  *result.ptr = '\0';
  return std::strtod(text, nullptr);
}

nlohmann::json triple_to_json(const std::array<float, 3>& values) {
  return {as_decimal(values[0]), as_decimal(values[1]), as_decimal(values[2])};
}

}  // namespace

std::string to_string(ResizeMode mode) {
  switch (mode) {
    case ResizeMode::squash:
      return "squash";
    case ResizeMode::crop:
      return "crop";
  }
  throw Error("unknown resize mode");
}

ResizeMode parse_resize_mode(const std::string& value, const std::string& option) {
  if (value == "squash") return ResizeMode::squash;
  if (value == "crop") return ResizeMode::crop;
  bad_value(option, value, "squash or crop");
}

Interp parse_interp(const std::string& value, const std::string& option) {
  if (value == "bilinear") return Interp::bilinear;
  if (value == "bicubic") return Interp::bicubic;
  bad_value(option, value, "bilinear or bicubic");
}

Normalization normalization_named(const std::string& name, const std::string& option) {
  if (name == "imagenet") return {{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}};
  if (name == "inception") return {{0.5f, 0.5f, 0.5f}, {0.5f, 0.5f, 0.5f}};
  if (name == "clip")
    return {{0.48145466f, 0.4578275f, 0.40821073f}, {0.26862954f, 0.26130258f, 0.27577711f}};
  if (name == "none") return {{0.0f, 0.0f, 0.0f}, {1.0f, 1.0f, 1.0f}};
  bad_value(option, name, "imagenet, inception, clip or none");
}

std::array<float, 3> parse_triple(const std::string& value, const std::string& option) {
  std::array<float, 3> out{};
  const char* p = value.c_str();
  for (int i = 0; i < 3; ++i) {
    char* end = nullptr;
    const float v = std::strtof(p, &end);
    const char expected_end = i < 2 ? ',' : '\0';
    if (end == p || *end != expected_end || !std::isfinite(v))
      bad_value(option, value, "three comma-separated numbers R,G,B");
    out[i] = v;
    p = end + 1;
  }
  return out;
}

nlohmann::json to_json(const Preprocess& p) {
  return {{"size", p.size},
          {"resize", to_string(p.resize)},
          {"crop_fraction", p.crop_fraction},
          {"interp", to_string(p.interp)},
          {"mean", triple_to_json(p.mean)},
          {"std", triple_to_json(p.std)},
          {"channels", p.channels}};
}

Preprocess preprocess_from_json(const nlohmann::json& record) {
  Preprocess p;
  try {
    p.size = record.at("size").get<int>();
    p.resize = parse_resize_mode(record.at("resize").get<std::string>(), "resize");
    p.crop_fraction = record.at("crop_fraction").get<double>();
    p.interp = parse_interp(record.at("interp").get<std::string>(), "interp");
    p.mean = record.at("mean").get<std::array<float, 3>>();
    p.std = record.at("std").get<std::array<float, 3>>();
    p.channels = record.at("channels").get<int>();
    validate(p);
  } catch (const std::exception& e) {
    throw Error(std::string("malformed preprocessing record: ") + e.what());
  }
  return p;
}

}  // namespace vpet::image
