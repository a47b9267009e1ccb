// peft-train's method options, declared from the registry's option specs
// (peft/method_option.h): the program knows no method, and a new method's
// options appear with its registry line.
#pragma once

#include <cxxopts.hpp>
#include <nlohmann/json.hpp>
#include <string>

namespace vpet::cli {

// Every method's options, in the "Per-method" group (--help's "Per-method
// options", which tests/cli/docs.bats holds against the man page and the
// completions).
void add_method_options(cxxopts::Options& options);

// Method `method`'s configuration: the options given (a recipe's included),
// typed as their specs say; the method supplies the rest, so its own
// derived defaults hold (LoRA's alpha = the rank, VPT's P from
// --init-prompts). An option given that `method` does not read is warned
// about and left out.
nlohmann::json read_method_config(const cxxopts::ParseResult& result, const std::string& method);

}  // namespace vpet::cli
