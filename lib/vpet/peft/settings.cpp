#include "vpet/peft/settings.h"

#include <algorithm>
#include <sstream>

#include "vpet/error.h"

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
  if (!value.is_number_integer()) throw UsageError(option(key) + " must be an integer");
  const std::int64_t n = value.get<std::int64_t>();
  if (n < min) throw UsageError(option(key) + " must be >= " + std::to_string(min));
  return n;
}

double Settings::number(const std::string& key, double fallback, double min, double max) const {
  if (!has(key)) return fallback;
  const auto& value = config_.at(key);
  if (!value.is_number()) throw UsageError(option(key) + " must be a number");
  const double x = value.get<double>();
  if (!(x >= min && x < max)) {
    std::ostringstream message;
    message << option(key) << " must be in [" << min << ", " << max << "), got " << x;
    throw UsageError(message.str());
  }
  return x;
}

bool Settings::boolean(const std::string& key, bool fallback) const {
  if (!has(key)) return fallback;
  const auto& value = config_.at(key);
  if (!value.is_boolean()) throw UsageError(option(key) + " must be true or false");
  return value.get<bool>();
}

std::string Settings::text(const std::string& key, const std::string& fallback) const {
  if (!has(key)) return fallback;
  const auto& value = config_.at(key);
  if (!value.is_string()) throw UsageError(option(key) + " must be a string");
  return value.get<std::string>();
}

std::string Settings::choice(const std::string& key, const std::string& fallback,
                             const std::vector<std::string>& choices) const {
  const std::string value = text(key, fallback);
  if (std::find(choices.begin(), choices.end(), value) == choices.end()) {
    throw UsageError(option(key) + " must be one of " + joined(choices, ", ") + ", got '" + value +
                     "'");
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
      if (!item.is_string()) throw UsageError(option(key) + " must list names");
      picked.push_back(item.get<std::string>());
    }
  } else {
    throw UsageError(option(key) + " must list names (" + joined(choices, ",") + ")");
  }
  if (picked.empty())
    throw UsageError(option(key) + " must name at least one of " + joined(choices, ","));
  for (std::size_t i = 0; i < picked.size(); ++i) {
    if (std::find(choices.begin(), choices.end(), picked[i]) == choices.end()) {
      throw UsageError(option(key) + ": unknown '" + picked[i] +
                       "' (known: " + joined(choices, ",") + ")");
    }
    if (std::find(picked.begin(), picked.begin() + std::ptrdiff_t(i), picked[i]) !=
        picked.begin() + std::ptrdiff_t(i)) {
      throw UsageError(option(key) + " names '" + picked[i] + "' twice");
    }
  }
  return picked;
}

}  // namespace vpet::peft
