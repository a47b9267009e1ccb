#include "vpet/peft/registry.h"

#include <functional>
#include <map>

#include "vpet/error.h"
// One include and one table line per method.
#include "vpet/peft/adapter.h"
#include "vpet/peft/bitfit.h"
#include "vpet/peft/full.h"
#include "vpet/peft/linear.h"
#include "vpet/peft/lion.h"
#include "vpet/peft/lora.h"
#include "vpet/peft/memory.h"
#include "vpet/peft/pgn.h"
#include "vpet/peft/spt.h"
#include "vpet/peft/vpt.h"

namespace vpet::peft {
namespace {

using Factory = std::function<std::unique_ptr<Method>(const nlohmann::json&)>;

const std::map<std::string, Factory>& factories() {
  static const std::map<std::string, Factory> table = {
      {"adapter", [](const nlohmann::json& c) { return std::make_unique<Adapter>(c); }},
      {"bitfit", [](const nlohmann::json& c) { return std::make_unique<BitFit>(c); }},
      {"full", [](const nlohmann::json& c) { return std::make_unique<FullFineTuning>(c); }},
      {"linear", [](const nlohmann::json& c) { return std::make_unique<LinearProbe>(c); }},
      {"lion", [](const nlohmann::json& c) { return std::make_unique<Lion>(c); }},
      {"lora", [](const nlohmann::json& c) { return std::make_unique<LoRA>(c); }},
      {"memory", [](const nlohmann::json& c) { return std::make_unique<Memory>(c); }},
      {"pgn", [](const nlohmann::json& c) { return std::make_unique<Pgn>(c); }},
      {"spt-adapter",
       [](const nlohmann::json& c) { return std::make_unique<Spt>(spt::Structure::Adapter, c); }},
      {"spt-lora",
       [](const nlohmann::json& c) { return std::make_unique<Spt>(spt::Structure::LoRA, c); }},
      {"vpt-deep",
       [](const nlohmann::json& c) { return std::make_unique<Vpt>(Vpt::Depth::Deep, c); }},
      {"vpt-shallow",
       [](const nlohmann::json& c) { return std::make_unique<Vpt>(Vpt::Depth::Shallow, c); }},
  };
  return table;
}

}  // namespace

std::unique_ptr<Method> create_method(const std::string& name, const nlohmann::json& config) {
  const auto& table = factories();
  auto found = table.find(name);
  if (found == table.end()) {
    std::string known;
    for (const auto& [known_name, factory] : table)
      known += (known.empty() ? "" : ", ") + known_name;
    throw UsageError("unknown method '" + name + "' (known: " + known + ")");
  }
  return found->second(config);
}

std::vector<std::string> method_names() {
  std::vector<std::string> names;
  for (const auto& [name, factory] : factories()) names.push_back(name);
  return names;
}

}  // namespace vpet::peft
