// Reading a method's JSON configuration (the keys peft-train fills from its
// options, DESIGN §5): missing keys take the method's default, unknown keys
// are ignored, and a bad value is a SettingError (a vpet::UsageError) that
// names the option as the user typed it ("--rank must be >= 1" for the key
// "rank") and carries the key for a bundle's reader.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "vpet/error.h"

namespace vpet::peft {

// A bad value for one key: a usage error on peft-train's command line, bad
// data in a bundle (whose reader reports `key` and `problem` with the file).
class SettingError : public UsageError {
 public:
  SettingError(const std::string& key, const std::string& option, const std::string& problem)
      : UsageError(option + " " + problem), key(key), problem(problem) {}
  std::string key;      // "rank"
  std::string problem;  // "must be >= 1"
};

class Settings {
 public:
  explicit Settings(const nlohmann::json& config);

  // Every integer setting is a count that sizes tensors (prompts, rank,
  // memory tokens, library size): far above any published recipe's, and
  // refused above, so that no file or option can ask for terabytes.
  static constexpr std::int64_t kMaxInteger = 65536;

  bool has(const std::string& key) const;
  // An integer in [min, kMaxInteger].
  std::int64_t integer(const std::string& key, std::int64_t fallback, std::int64_t min) const;
  // A number in [min, max).
  double number(const std::string& key, double fallback, double min, double max) const;
  // A finite number > 0.
  double positive(const std::string& key, double fallback) const;
  // A number in (0, 1].
  double fraction(const std::string& key, double fallback) const;
  bool boolean(const std::string& key, bool fallback) const;
  std::string text(const std::string& key, const std::string& fallback) const;
  // One of `choices`.
  std::string choice(const std::string& key, const std::string& fallback,
                     const std::vector<std::string>& choices) const;
  // A non-empty list of distinct `choices`, as a JSON array or one
  // comma-separated string ("q,v").
  std::vector<std::string> choices(const std::string& key, const std::vector<std::string>& fallback,
                                   const std::vector<std::string>& choices) const;
  // Block numbers, sorted and distinct, as a JSON array of integers or text
  // of numbers and ranges ("6-11", "0,2,4-6"); empty for a missing key or
  // "all" (every block).
  std::vector<std::int64_t> block_numbers(const std::string& key) const;

 private:
  // The number at `key`, which must satisfy in_range ("must be RANGE").
  double checked_number(const std::string& key, double fallback,
                        const std::function<bool(double)>& in_range,
                        const std::string& range) const;

  nlohmann::json config_;
};

}  // namespace vpet::peft
