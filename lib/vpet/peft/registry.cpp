#include "vpet/peft/registry.h"

#include <algorithm>
#include <functional>
#include <map>

#include "vpet/error.h"
// One include and one table line per method.
#include "vpet/peft/adapter.h"
#include "vpet/peft/bitfit.h"
#include "vpet/peft/dora.h"
#include "vpet/peft/full.h"
#include "vpet/peft/head_class.h"
#include "vpet/peft/linear.h"
#include "vpet/peft/lion.h"
#include "vpet/peft/lora.h"
#include "vpet/peft/memory.h"
#include "vpet/peft/pgn.h"
#include "vpet/peft/spt.h"
#include "vpet/peft/ssf.h"
#include "vpet/peft/vpt.h"

namespace vpet::peft {
namespace {

using Factory = std::function<std::unique_ptr<Method>(const nlohmann::json&)>;

struct Entry {
  Factory create;
  const MethodOptions& options;
};

const MethodOptions kNoOptions;

const std::map<std::string, Entry>& entries() {
  static const std::map<std::string, Entry> table = {
      {"adapter",
       {[](const nlohmann::json& c) { return std::make_unique<Adapter>(c); }, Adapter::options()}},
      {"bitfit", {[](const nlohmann::json& c) { return std::make_unique<BitFit>(c); }, kNoOptions}},
      {"dora",
       {[](const nlohmann::json& c) { return std::make_unique<DoRA>(c); }, LoRA::options()}},
      {"full",
       {[](const nlohmann::json& c) { return std::make_unique<FullFineTuning>(c); }, kNoOptions}},
      {"head-class",
       {[](const nlohmann::json& c) { return std::make_unique<HeadClass>(c); }, kNoOptions}},
      {"linear",
       {[](const nlohmann::json& c) { return std::make_unique<LinearProbe>(c); }, kNoOptions}},
      {"lion",
       {[](const nlohmann::json& c) { return std::make_unique<Lion>(c); }, Lion::options()}},
      {"lora",
       {[](const nlohmann::json& c) { return std::make_unique<LoRA>(c); }, LoRA::options()}},
      {"memory",
       {[](const nlohmann::json& c) { return std::make_unique<Memory>(c); }, Memory::options()}},
      {"pgn", {[](const nlohmann::json& c) { return std::make_unique<Pgn>(c); }, Pgn::options()}},
      {"spt-adapter",
       {[](const nlohmann::json& c) { return std::make_unique<Spt>(spt::Structure::Adapter, c); },
        Spt::options()}},
      {"spt-lora",
       {[](const nlohmann::json& c) { return std::make_unique<Spt>(spt::Structure::LoRA, c); },
        Spt::options()}},
      {"ssf", {[](const nlohmann::json& c) { return std::make_unique<Ssf>(c); }, kNoOptions}},
      {"vpt-deep",
       {[](const nlohmann::json& c) { return std::make_unique<Vpt>(Vpt::Depth::Deep, c); },
        Vpt::options()}},
      {"vpt-shallow",
       {[](const nlohmann::json& c) { return std::make_unique<Vpt>(Vpt::Depth::Shallow, c); },
        Vpt::options()}},
  };
  return table;
}

const Entry& entry(const std::string& name) {
  const auto& table = entries();
  auto found = table.find(name);
  if (found == table.end()) {
    std::string known;
    for (const auto& [known_name, entry] : table) known += (known.empty() ? "" : ", ") + known_name;
    throw UsageError("unknown method '" + name + "' (known: " + known + ")");
  }
  return found->second;
}

}  // namespace

std::unique_ptr<Method> create_method(const std::string& name, const nlohmann::json& config) {
  return entry(name).create(config);
}

std::vector<std::string> method_names() {
  std::vector<std::string> names;
  for (const auto& [name, entry] : entries()) names.push_back(name);
  return names;
}

const MethodOptions& method_options(const std::string& name) {
  return entry(name).options;
}

const MethodOptions& all_method_options() {
  // Methods that share a file share its options (vpt-shallow and vpt-deep):
  // each option once, in the order of the methods' names.
  static const MethodOptions all = [] {
    MethodOptions options;
    for (const auto& [name, entry] : entries()) {
      for (const MethodOption& option : entry.options) {
        const bool seen = std::any_of(options.begin(), options.end(),
                                      [&](const MethodOption& o) { return o.flag == option.flag; });
        if (!seen) options.push_back(option);
      }
    }
    return options;
  }();
  return all;
}

}  // namespace vpet::peft
