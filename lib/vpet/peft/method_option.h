// The command-line face of a method's configuration: each option a method
// reads, declared in the method's own file (lora.cpp, vpt.cpp, ...) and
// listed by the registry (registry.h), so that peft-train, its --help, the
// man page's check and the recipes (train/recipe.h) all read one
// description. The method itself still validates every value it is given
// (settings.h); an option's default here is what its --help shows, and a
// unit test holds it equal to the default the method applies.
#pragma once

#include <string>
#include <vector>

namespace vpet::peft {

struct MethodOption {
  // How the value is typed on the command line (List: "q,v", which the
  // method splits) and stored in the method's JSON configuration.
  enum class Type { Integer, Number, Text, List, Bool };

  std::string flag;  // "rank", typed as --rank
  std::string key;   // the configuration key, "rank"
  Type type;
  // The default --help shows; empty: the method derives it (LoRA's alpha
  // from the rank, VPT's P from --init-prompts), as `help` says.
  std::string default_value;
  std::string help;  // one line, starting with the method's name ("LoRA: rank r")
  std::string arg;   // the value's name in --help ("R")
  // Where the value is one of a set: the set (--help shows it instead of
  // `arg`, the completions offer it).
  std::vector<std::string> values = {};
};

using MethodOptions = std::vector<MethodOption>;

}  // namespace vpet::peft
