#include "vpet/cli/recipe_options.h"

namespace vpet::cli {
namespace {

constexpr const char* kList = "list";

// The value `option` was last given (cxxopts keeps the last one), recipe
// arguments included; its default if never given.
std::string value_in_force(const cxxopts::ParseResult& result, const std::string& option) {
  std::string value;
  for (const cxxopts::KeyValue& given : result.arguments()) {
    if (given.key() == option) value = given.value();
  }
  return value;
}

}  // namespace

void add_recipe_options(cxxopts::Options& options) {
  // clang-format off
  options.add_options("Method")
    ("recipe",
     "Set every hyper-parameter of one paper's protocol (--recipe list); options given "
     "override it",
     cxxopts::value<std::string>(),
     "NAME")
    ("print-settings",
     "Print the settings --recipe resolves to, after the options given, and exit");
  // clang-format on
}

std::vector<std::string> recipe_presets(const cxxopts::ParseResult& result) {
  if (!result.count("recipe") || result["recipe"].as<std::string>() == kList) return {};
  const train::Recipe& recipe = train::find_recipe(result["recipe"].as<std::string>());
  std::vector<std::string> arguments = {"--method=" + recipe.method};
  for (const train::RecipeSetting& setting : recipe.settings) {
    arguments.push_back("--" + setting.option + "=" + setting.value);
  }
  return arguments;
}

std::vector<ResolvedSetting> resolve_recipe(const train::Recipe& recipe,
                                            const cxxopts::ParseResult& result) {
  std::vector<train::RecipeSetting> settings = {
      {"method", recipe.method, recipe.name + ": the method the recipe is for"}};
  settings.insert(settings.end(), recipe.settings.begin(), recipe.settings.end());
  std::vector<ResolvedSetting> resolved;
  for (const train::RecipeSetting& setting : settings) {
    // The recipe gave each option once; more is the command line's.
    const bool overridden = result.count(setting.option) > 1;
    resolved.push_back({setting.option, value_in_force(result, setting.option), overridden,
                        setting.value, setting.source});
  }
  return resolved;
}

void print_recipes(std::ostream& out) {
  for (const train::Recipe& recipe : train::recipes()) {
    out << recipe.name << '\t' << recipe.method << '\t' << recipe.benchmark << '\t' << recipe.source
        << '\n';
  }
}

void print_settings(std::ostream& out, const std::vector<ResolvedSetting>& settings) {
  for (const ResolvedSetting& setting : settings) {
    out << "--" << setting.option << '\t' << setting.value << '\t'
        << (setting.overridden ? "command line" : "recipe") << '\t' << setting.source << '\n';
  }
}

nlohmann::json recipe_record(const train::Recipe& recipe,
                             const std::vector<ResolvedSetting>& settings) {
  nlohmann::json values = nlohmann::json::object(), overridden = nlohmann::json::object();
  for (const ResolvedSetting& setting : settings) {
    values[setting.option] = setting.value;
    if (setting.overridden) overridden[setting.option] = setting.recipe_value;
  }
  return {{"name", recipe.name},     {"method", recipe.method}, {"benchmark", recipe.benchmark},
          {"source", recipe.source}, {"settings", values},      {"overridden", overridden}};
}

}  // namespace vpet::cli
