#include "vpet/peft/settings.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "vpet/error.h"
#include "vpet/strings.h"

namespace vpet::peft {
namespace {

// The option peft-train exposes for a config key: "prompt_dropout" is
// "--prompt-dropout".
std::string option(const std::string& key) {
  std::string name = "--" + key;
  std::replace(name.begin(), name.end(), '_', '-');
  return name;
}

std::string joined(const std::vector<std::string>& words, const char* separator) {
  std::string out;
  for (const auto& word : words) out += (out.empty() ? "" : separator) + word;
  return out;
}

[[noreturn]] void bad(const std::string& key, const std::string& problem) {
  throw SettingError(key, option(key), problem);
}

}  // namespace

Settings::Settings(const nlohmann::json& config)
    : config_(config.is_null() ? nlohmann::json::object() : config) {
  if (!config_.is_object()) throw UsageError("a method's configuration must be a JSON object");
}

bool Settings::has(const std::string& key) const {
  return config_.contains(key) && !config_.at(key).is_null();
}

std::int64_t Settings::integer(const std::string& key, std::int64_t fallback,
                               std::int64_t min) const {
  if (!has(key)) return fallback;
  const auto& value = config_.at(key);
  if (!value.is_number_integer()) bad(key, "must be an integer");
  const std::int64_t n = value.get<std::int64_t>();
  if (n < min) bad(key, "must be >= " + std::to_string(min));
  if (n > kMaxInteger) bad(key, "must be <= " + std::to_string(kMaxInteger));
  return n;
}

double Settings::checked_number(const std::string& key, double fallback,
                                const std::function<bool(double)>& in_range,
                                const std::string& range) const {
  if (!has(key)) return fallback;
  const auto& value = config_.at(key);
  if (!value.is_number()) bad(key, "must be a number");
  const double x = value.get<double>();
  if (!in_range(x)) {
    std::ostringstream message;
    message << "must be " << range << ", got " << x;
    bad(key, message.str());
  }
  return x;
}

double Settings::number(const std::string& key, double fallback, double min, double max) const {
  std::ostringstream range;
  range << "in [" << min << ", " << max << ")";
  return checked_number(
      key, fallback, [&](double x) { return x >= min && x < max; }, range.str());
}

double Settings::positive(const std::string& key, double fallback) const {
  return checked_number(
      key, fallback, [](double x) { return x > 0.0 && std::isfinite(x); }, "> 0");
}

double Settings::fraction(const std::string& key, double fallback) const {
  return checked_number(
      key, fallback, [](double x) { return x > 0.0 && x <= 1.0; }, "in (0, 1]");
}

bool Settings::boolean(const std::string& key, bool fallback) const {
  if (!has(key)) return fallback;
  const auto& value = config_.at(key);
  if (!value.is_boolean()) bad(key, "must be true or false");
  return value.get<bool>();
}

std::string Settings::text(const std::string& key, const std::string& fallback) const {
  if (!has(key)) return fallback;
  const auto& value = config_.at(key);
  if (!value.is_string()) bad(key, "must be a string");
  return value.get<std::string>();
}

std::string Settings::choice(const std::string& key, const std::string& fallback,
                             const std::vector<std::string>& choices) const {
  const std::string value = text(key, fallback);
  if (std::find(choices.begin(), choices.end(), value) == choices.end()) {
    bad(key, "must be one of " + joined(choices, ", ") + ", got '" + value + "'");
  }
  return value;
}

std::vector<std::string> Settings::choices(const std::string& key,
                                           const std::vector<std::string>& fallback,
                                           const std::vector<std::string>& choices) const {
  if (!has(key)) return fallback;
  const auto& value = config_.at(key);
  std::vector<std::string> picked;
  if (value.is_string()) {
    std::istringstream list(value.get<std::string>());
    for (std::string item; std::getline(list, item, ',');) picked.push_back(item);
  } else if (value.is_array()) {
    for (const auto& item : value) {
      if (!item.is_string()) bad(key, "must list names");
      picked.push_back(item.get<std::string>());
    }
  } else {
    bad(key, "must list names (" + joined(choices, ",") + ")");
  }
  if (picked.empty()) bad(key, "must name at least one of " + joined(choices, ","));
  for (std::size_t i = 0; i < picked.size(); ++i) {
    if (std::find(choices.begin(), choices.end(), picked[i]) == choices.end()) {
      bad(key, "names an unknown '" + picked[i] + "' (known: " + joined(choices, ",") + ")");
    }
    if (std::find(picked.begin(), picked.begin() + std::ptrdiff_t(i), picked[i]) !=
        picked.begin() + std::ptrdiff_t(i)) {
      bad(key, "names '" + picked[i] + "' twice");
    }
  }
  return picked;
}

std::vector<std::int64_t> Settings::block_numbers(const std::string& key) const {
  if (!has(key)) return {};
  const auto& value = config_.at(key);
  const std::string expected = "must be 'all' or block numbers and ranges such as 6-11 or 0,2,4-6";
  std::vector<std::int64_t> blocks;
  const auto add = [&](std::int64_t first, std::int64_t last) {
    if (first < 0 || last < first || last >= kMaxInteger) bad(key, expected);
    for (std::int64_t block = first; block <= last; ++block) blocks.push_back(block);
  };
  if (value.is_array()) {
    for (const auto& item : value) {
      if (!item.is_number_integer()) bad(key, expected);
      add(item.get<std::int64_t>(), item.get<std::int64_t>());
    }
  } else if (value.is_string()) {
    const std::string text = value.get<std::string>();
    if (text == "all") return {};
    std::istringstream list(text);
    for (std::string item; std::getline(list, item, ',');) {
      const std::size_t dash = item.find('-', 1);
      const std::string first = item.substr(0, dash);
      const std::string last = dash == std::string::npos ? first : item.substr(dash + 1);
      if (!is_digits(first, 6) || !is_digits(last, 6)) bad(key, expected + ", got '" + text + "'");
      add(std::stoll(first), std::stoll(last));
    }
    if (text.empty() || text.back() == ',') bad(key, expected + ", got '" + text + "'");
  } else {
    bad(key, expected);
  }
  if (blocks.empty()) bad(key, expected);
  std::sort(blocks.begin(), blocks.end());
  const auto twice = std::adjacent_find(blocks.begin(), blocks.end());
  if (twice != blocks.end()) bad(key, "names block " + std::to_string(*twice) + " twice");
  return blocks;
}

}  // namespace vpet::peft
