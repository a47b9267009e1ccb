// peft-train's --recipe (train/recipe.h): the recipe's values become
// arguments parsed before the command line's own (Program::presets), so
// they go through the same option declarations and every option given
// explicitly overrides them; what they resolved to is printed with -v and
// --print-settings and recorded in the bundle.
#pragma once

#include <cxxopts.hpp>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "vpet/train/recipe.h"

namespace vpet::cli {

// --recipe NAME|list and --print-settings, in the "Method" group.
void add_recipe_options(cxxopts::Options& options);

// Program::presets: "--method=M" and "--OPTION=VALUE" for each setting of
// the --recipe named on `result`; none without --recipe or with "list".
// Throws vpet::UsageError for an unknown recipe, listing the known ones.
std::vector<std::string> recipe_presets(const cxxopts::ParseResult& result);

// One setting of the recipe after the command line.
struct ResolvedSetting {
  std::string option;  // "lr"
  std::string value;   // the value in force
  bool overridden;     // given on the command line, replacing `recipe_value`
  std::string recipe_value;
  std::string source;  // where the recipe's value comes from
};

// `recipe`'s settings (--method first) as parsed into `result`.
std::vector<ResolvedSetting> resolve_recipe(const train::Recipe& recipe,
                                            const cxxopts::ParseResult& result);

// --recipe list: name, method, benchmark and source, one recipe a line.
void print_recipes(std::ostream& out);

// --print-settings: option, value, origin ("recipe" or "command line") and
// the recipe's source, tab-separated, one setting a line.
void print_settings(std::ostream& out, const std::vector<ResolvedSetting>& settings);

// The bundle's record: name, method, benchmark, source, the settings in
// force and those the command line overrode (with the recipe's value).
nlohmann::json recipe_record(const train::Recipe& recipe,
                             const std::vector<ResolvedSetting>& settings);

}  // namespace vpet::cli
