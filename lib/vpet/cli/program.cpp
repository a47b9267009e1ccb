#include "vpet/cli/program.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <new>

#include "vpet/cli/log.h"
#include "vpet/error.h"

namespace vpet::cli {
namespace {

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

int usage_failure(const Program& program, const std::string& message) {
  error(message);
  std::fprintf(stderr, "Try '%s --help' for more information.\n", program.name.c_str());
  return kExitUsage;
}

// cxxopts lists groups alphabetically; users read options in the order of the
// work: what model, what data, how it is prepared, what to do, where it goes.
std::vector<std::string> groups_in_reading_order(const cxxopts::Options& options) {
  static const std::vector<std::string> order = {
      "Input",  "Model",    "Data",   "Preprocessing", "Extraction",
      "Method", "Training", "Output", "Runtime",       "General"};
  std::vector<std::string> groups = options.groups();
  auto rank = [&](const std::string& group) {
    return std::find(order.begin(), order.end(), group) - order.begin();
  };
  std::stable_sort(groups.begin(), groups.end(),
                   [&](const std::string& a, const std::string& b) { return rank(a) < rank(b); });
  return groups;
}

}  // namespace

int run_program(const Program& program, int argc, char** argv) {
  set_program_name(program.name);
  try {
    cxxopts::Options options(program.name, program.summary);
    options.custom_help(program.usage);
    options.set_width(100);
    program.declare(options);
    // clang-format off
    options.add_options("General")
      ("q,quiet", "No progress or informational messages on stderr")
      ("h,help", "Print this help and exit")
      ("version", "Print the version and exit");
    // clang-format on
    cxxopts::ParseResult result = options.parse(argc, argv);

    if (result.count("help")) {
      std::cout << options.help(groups_in_reading_order(options));
      return 0;
    }
    if (result.count("version")) {
      std::cout << program.name << " (vpet) " << VPET_VERSION << ", LibTorch " << TORCH_VERSION
                << "\n";
      return 0;
    }
    if (!result.unmatched().empty()) {
      return usage_failure(program, "unexpected argument '" + result.unmatched().front() + "'");
    }
    set_quiet(result.count("quiet") > 0);
    return program.run(result);
  } catch (const cxxopts::exceptions::exception& e) {
    return usage_failure(program, e.what());
  } catch (const UsageError& e) {
    return usage_failure(program, e.what());
  } catch (const Error& e) {
    error(e.what());
    return kExitFailure;
  } catch (const c10::Error& e) {
    error(e.what_without_backtrace());
    return kExitFailure;
  } catch (const std::bad_alloc&) {
    error("out of memory");
    return kExitFailure;
  } catch (const std::exception& e) {
    error(e.what());
    return kExitFailure;
  }
}

}  // namespace vpet::cli
