// Reading a method's JSON configuration (the keys peft-train fills from its
// options, DESIGN §5): missing keys take the method's default, unknown keys
// are ignored, and a bad value is a vpet::UsageError that names the option
// as the user typed it ("--rank must be >= 1" for the key "rank").
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace vpet::peft {

class Settings {
 public:
  explicit Settings(const nlohmann::json& config);

  bool has(const std::string& key) const;
  // An integer >= `min`.
  std::int64_t integer(const std::string& key, std::int64_t fallback, std::int64_t min) const;
  // A number in [min, max).
  double number(const std::string& key, double fallback, double min, double max) const;
  bool boolean(const std::string& key, bool fallback) const;
  std::string text(const std::string& key, const std::string& fallback) const;
  // One of `choices`.
  std::string choice(const std::string& key, const std::string& fallback,
                     const std::vector<std::string>& choices) const;
  // A non-empty list of distinct `choices`, as a JSON array or one
  // comma-separated string ("q,v").
  std::vector<std::string> choices(const std::string& key, const std::vector<std::string>& fallback,
                                   const std::vector<std::string>& choices) const;

 private:
  nlohmann::json config_;
};

}  // namespace vpet::peft
