#include "vpet/cli/program.h"

#include <torch/torch.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <new>

#include "vpet/cli/log.h"
#include "vpet/error.h"
#include "vpet/io/atomic_file.h"
#include "vpet/io/fault_point.h"

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
      "Input",      "Model",    "Data",   "Preprocessing", "Extraction", "Method",
      "Per-method", "Training", "Output", "Runtime",       "General"};
  std::vector<std::string> groups = options.groups();
  auto rank = [&](const std::string& group) {
    return std::find(order.begin(), order.end(), group) - order.begin();
  };
  std::stable_sort(groups.begin(), groups.end(),
                   [&](const std::string& a, const std::string& b) { return rank(a) < rank(b); });
  return groups;
}

// What a program printed must have arrived: `vpet-info x >/dev/full` fails.
// Returns the exit status to use instead of `status`.
int finish_standard_output(int status) {
  std::cout.flush();
  const bool failed = std::fflush(stdout) != 0 || std::ferror(stdout) || std::cout.fail();
  if (!failed) return status;
  const int error_number = errno;
  if (error_number == EPIPE) return kExitFailure;  // the reader went away: quietly
  error(std::string("standard output: write failed") +
        (error_number != 0 ? std::string(": ") + std::strerror(error_number) : ""));
  return kExitFailure;
}

// cxxopts says "Argument 'nan' failed to parse" without the option: find the
// option the value was given to ("--lr nan", "--lr=nan", "-b x") and say it.
std::string with_option_named(const std::string& message, int argc, const char* const* argv) {
  // The value between cxxopts' quotes (typographic where it has UTF-8, else ').
  const std::string open = cxxopts::LQUOTE, close = cxxopts::RQUOTE;
  const auto begin = message.find(open);
  const auto end = message.rfind(close);
  if (begin == std::string::npos || end == std::string::npos || end <= begin) return message;
  const std::string value = message.substr(begin + open.size(), end - begin - open.size());
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto equals = arg.find('=');
    std::string option;
    if (arg.rfind("--", 0) == 0 && equals != std::string::npos && arg.substr(equals + 1) == value) {
      option = arg.substr(0, equals);
    } else if (arg.size() > 1 && arg[0] == '-' && i + 1 < argc && argv[i + 1] == value) {
      option = arg;
    }
    if (!option.empty()) return option + ": '" + value + "' is not a valid value (see --help)";
  }
  return message;
}

// The command line with `presets` between the program name and the
// arguments: cxxopts keeps the last value of an option given twice.
std::vector<const char*> with_presets(const std::vector<std::string>& presets, int argc,
                                      char** argv) {
  std::vector<const char*> all = {argv[0]};
  for (const std::string& preset : presets) all.push_back(preset.c_str());
  all.insert(all.end(), argv + 1, argv + argc);
  return all;
}

int parse_and_run(const Program& program, int argc, char** argv) {
  std::vector<std::string> presets;
  std::vector<const char*> arguments(argv, argv + argc);
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
    if (program.presets && !result.count("help") && !result.count("version")) {
      presets = program.presets(result);
      if (!presets.empty()) {
        arguments = with_presets(presets, argc, argv);
        result = options.parse(int(arguments.size()), arguments.data());
      }
    }

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
  } catch (const cxxopts::exceptions::incorrect_argument_type& e) {
    return usage_failure(program,
                         with_option_named(e.what(), int(arguments.size()), arguments.data()));
  } catch (const cxxopts::exceptions::exception& e) {
    return usage_failure(program, e.what());
  } catch (const UsageError& e) {
    return usage_failure(program, e.what());
  } catch (const OutputClosed&) {
    return kExitFailure;  // `| head`: the reader chose to stop; nothing to say
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

}  // namespace

int run_program(const Program& program, int argc, char** argv) {
  set_program_name(program.name);
  // Before anything can create a temporary: SIGINT, SIGTERM, SIGHUP, SIGQUIT
  // and SIGPIPE remove them on the way out.
  io::install_signal_cleanup();
  errno = 0;
  try {
    io::read_fault_plan();
  } catch (const UsageError& e) {
    return usage_failure(program, e.what());
  }
  return finish_standard_output(parse_and_run(program, argc, argv));
}

}  // namespace vpet::cli
