// The registry's option specs (method_option.h) against the methods
// themselves: peft-train shows a spec's default in --help and leaves the
// value to the method when the option is not given, so the two must agree;
// every value a spec offers for completion must be one the method accepts.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "vpet/error.h"
#include "vpet/peft/registry.h"
#include "vpet/peft/spt_plan.h"

namespace vpet::peft {
namespace {

// What a method needs beyond its options to be built at all: SPT a plan.
nlohmann::json required(const std::string& method) {
  if (method.rfind("spt-", 0) != 0) return nlohmann::json::object();
  spt::Plan plan;
  plan.structure = method == "spt-lora" ? spt::Structure::LoRA : spt::Structure::Adapter;
  plan.rank = 2;
  return {{"plan", spt::plan_fields(plan)}};
}

// A spec's default as the method's config() records it.
nlohmann::json typed(const MethodOption& option) {
  switch (option.type) {
    case MethodOption::Type::Integer:
      return std::stoll(option.default_value);
    case MethodOption::Type::Number:
      return std::stod(option.default_value);
    case MethodOption::Type::Bool:
      return option.default_value == "true";
    case MethodOption::Type::List: {
      nlohmann::json parts = nlohmann::json::array();
      std::string rest = option.default_value;
      for (std::size_t comma; (comma = rest.find(',')) != std::string::npos;
           rest = rest.substr(comma + 1)) {
        parts.push_back(rest.substr(0, comma));
      }
      parts.push_back(rest);
      return parts;
    }
    case MethodOption::Type::Text:
      break;
  }
  return option.default_value;
}

TEST(MethodOptions, DefaultsShownAreTheMethodsDefaults) {
  for (const std::string& name : method_names()) {
    const nlohmann::json config = create_method(name, required(name))->config();
    for (const MethodOption& option : method_options(name)) {
      if (option.default_value.empty() || !config.contains(option.key)) continue;
      EXPECT_EQ(config.at(option.key), typed(option)) << name << " --" << option.flag;
    }
  }
}

TEST(MethodOptions, EveryOfferedValueIsAccepted) {
  for (const std::string& name : method_names()) {
    for (const MethodOption& option : method_options(name)) {
      for (const std::string& value : option.values) {
        nlohmann::json config = required(name);
        config[option.key] = value;
        // An extension needs its parents (a bundle's record of them).
        if (value == "extend") config["parents"] = {{{"fingerprint", "sha256:0"}}};
        EXPECT_NO_THROW(create_method(name, config))
            << name << " --" << option.flag << " " << value;
      }
    }
  }
}

TEST(MethodOptions, FlagsAndKeysAreUniqueAndTheUnionIsComplete) {
  std::set<std::string> flags, keys;
  for (const MethodOption& option : all_method_options()) {
    EXPECT_TRUE(flags.insert(option.flag).second) << option.flag;
    EXPECT_TRUE(keys.insert(option.key).second) << option.key;
    EXPECT_FALSE(option.help.empty()) << option.flag;
    EXPECT_FALSE(option.arg.empty()) << option.flag;
  }
  for (const std::string& name : method_names()) {
    for (const MethodOption& option : method_options(name)) {
      EXPECT_EQ(flags.count(option.flag), 1u) << name << " --" << option.flag;
    }
  }
}

TEST(MethodOptions, MethodsWithoutOptionsAndUnknownNames) {
  EXPECT_TRUE(method_options("linear").empty());
  EXPECT_EQ(method_options("vpt-deep").size(), method_options("vpt-shallow").size());
  EXPECT_THROW(method_options("nope"), UsageError);
}

}  // namespace
}  // namespace vpet::peft
