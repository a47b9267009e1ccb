// The frame every vpet program runs in: option parsing with the shared
// conventions (-h/--help with defaults, --version, -q), and the mapping of
// failures to exit codes (DESIGN §5): 0 success, 1 run-time failure,
// 2 usage error. A program's main() is one call to run_program().
#pragma once

#include <cxxopts.hpp>
#include <functional>
#include <string>
#include <vector>

namespace vpet::cli {

struct Program {
  std::string name;     // e.g. "vit-extract"
  std::string summary;  // one line for --help
  std::string usage;    // the argument synopsis after the name
  // Adds the program's own options (the shared ones come from common_options.h).
  std::function<void(cxxopts::Options&)> declare;
  // Does the work; returns the exit status. Throws vpet::Error / vpet::UsageError.
  std::function<int(const cxxopts::ParseResult&)> run;
  // Optional: arguments chosen from a first parse of the command line
  // (peft-train's --recipe) that are parsed before the command line's own,
  // so that every option given explicitly overrides them. Throws
  // vpet::UsageError (a recipe that does not exist).
  std::function<std::vector<std::string>(const cxxopts::ParseResult&)> presets = nullptr;
};

int run_program(const Program& program, int argc, char** argv);

}  // namespace vpet::cli
