// The recipe table's structure (the values themselves are checked against
// the papers' code by tests/cli/recipes.bats, with a table of its own): a
// recipe names a registered method, sets each option once, and sets only
// method options its method reads, with values their specs offer.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>

#include "vpet/error.h"
#include "vpet/peft/registry.h"
#include "vpet/train/recipe.h"

namespace vpet::train {
namespace {

const peft::MethodOption* find_option(const peft::MethodOptions& options, const std::string& flag) {
  for (const peft::MethodOption& option : options) {
    if (option.flag == flag) return &option;
  }
  return nullptr;
}

TEST(Recipes, NamesAreUniqueAndMethodsRegistered) {
  std::set<std::string> names;
  const std::vector<std::string> methods = peft::method_names();
  for (const Recipe& recipe : recipes()) {
    EXPECT_TRUE(names.insert(recipe.name).second) << recipe.name;
    EXPECT_NE(std::find(methods.begin(), methods.end(), recipe.method), methods.end())
        << recipe.name;
    EXPECT_FALSE(recipe.benchmark.empty() || recipe.source.empty()) << recipe.name;
  }
}

TEST(Recipes, EachOptionOnceWithASource) {
  for (const Recipe& recipe : recipes()) {
    std::set<std::string> options;
    for (const RecipeSetting& setting : recipe.settings) {
      EXPECT_TRUE(options.insert(setting.option).second) << recipe.name << " --" << setting.option;
      EXPECT_NE(setting.option, "method") << recipe.name;
      EXPECT_FALSE(setting.value.empty() || setting.source.empty())
          << recipe.name << " --" << setting.option;
    }
  }
}

TEST(Recipes, MethodOptionsAreTheMethodsOwn) {
  for (const Recipe& recipe : recipes()) {
    const peft::MethodOptions& own = peft::method_options(recipe.method);
    for (const RecipeSetting& setting : recipe.settings) {
      if (!find_option(peft::all_method_options(), setting.option)) continue;
      const peft::MethodOption* option = find_option(own, setting.option);
      ASSERT_NE(option, nullptr) << recipe.name << " sets --" << setting.option << ", which "
                                 << recipe.method << " does not read";
      if (!option->values.empty()) {
        EXPECT_NE(std::find(option->values.begin(), option->values.end(), setting.value),
                  option->values.end())
            << recipe.name << " --" << setting.option << " " << setting.value;
      }
    }
  }
}

TEST(Recipes, UnknownNameListsTheKnownOnes) {
  EXPECT_EQ(find_recipe("spt-lora-vtab1k").method, "spt-lora");
  try {
    find_recipe("nope");
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("vpt-deep-fgvc"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace vpet::train
