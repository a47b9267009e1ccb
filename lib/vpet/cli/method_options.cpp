#include "vpet/cli/method_options.h"

#include <algorithm>
#include <cstdint>
#include <memory>

#include "vpet/cli/log.h"
#include "vpet/peft/registry.h"

namespace vpet::cli {
namespace {

using peft::MethodOption;

// Their own group, so that --help shows which options are the methods'.
constexpr const char* kGroup = "Per-method";

std::shared_ptr<cxxopts::Value> value_of(const MethodOption& option) {
  std::shared_ptr<cxxopts::Value> value;
  switch (option.type) {
    case MethodOption::Type::Integer:
      value = cxxopts::value<std::int64_t>();
      break;
    case MethodOption::Type::Number:
      value = cxxopts::value<double>();
      break;
    case MethodOption::Type::Text:
    case MethodOption::Type::List:
      value = cxxopts::value<std::string>();
      break;
    case MethodOption::Type::Bool:
      // --flag alone is true; --flag=false turns a default (or a recipe's) off.
      value = cxxopts::value<bool>()->implicit_value("true");
      break;
  }
  if (!option.default_value.empty()) value->default_value(option.default_value);
  return value;
}

// A value from a set shows the set ("masked|unmasked"): --help then says
// what the completions offer.
std::string argument_name(const MethodOption& option) {
  std::string name;
  for (const std::string& value : option.values) name += (name.empty() ? "" : "|") + value;
  return name.empty() ? option.arg : name;
}

nlohmann::json value_given(const cxxopts::ParseResult& result, const MethodOption& option) {
  const cxxopts::OptionValue& given = result[option.flag];
  switch (option.type) {
    case MethodOption::Type::Integer:
      return given.as<std::int64_t>();
    case MethodOption::Type::Number:
      return given.as<double>();
    case MethodOption::Type::Text:
    case MethodOption::Type::List:  // the method splits "q,v" (Settings::choices)
      return given.as<std::string>();
    case MethodOption::Type::Bool:
      return given.as<bool>();
  }
  return nullptr;
}

}  // namespace

void add_method_options(cxxopts::Options& options) {
  auto adder = options.add_options(kGroup);
  for (const MethodOption& option : peft::all_method_options()) {
    adder(option.flag, option.help, value_of(option), argument_name(option));
  }
}

nlohmann::json read_method_config(const cxxopts::ParseResult& result, const std::string& method) {
  const peft::MethodOptions& own = peft::method_options(method);
  nlohmann::json config = nlohmann::json::object();
  for (const MethodOption& option : peft::all_method_options()) {
    if (result.count(option.flag) == 0) continue;
    const bool used = std::any_of(own.begin(), own.end(),
                                  [&](const MethodOption& o) { return o.flag == option.flag; });
    if (!used) {
      warn("--" + option.flag + " is not used by " + method);
      continue;
    }
    config[option.key] = value_given(result, option);
  }
  return config;
}

}  // namespace vpet::cli
