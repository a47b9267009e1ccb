// lion-prune: magnitude pruning of a LION adapter's implicit layers (the
// lottery ticket). Writes the bundle with the smallest weights zeroed and
// their masks recorded, for peft-train --mask (retraining) and peft-eval.
#include <cstdio>
#include <string>
#include <vector>

#include "vpet/cli/common_options.h"
#include "vpet/cli/log.h"
#include "vpet/cli/program.h"
#include "vpet/error.h"
#include "vpet/io/output_set.h"
#include "vpet/peft/bundle.h"
#include "vpet/peft/lion_prune.h"

namespace {

namespace cli = vpet::cli;
using vpet::UsageError;

void declare(cxxopts::Options& options) {
  // clang-format off
  options.add_options("Input")
    ("i,input", "The LION adapter bundle (- for stdin)", cxxopts::value<std::string>(), "BUNDLE");
  options.add_options("Method")
    ("sparsity",
     "Fraction of the implicit layers' weights that are zero afterwards (earlier rounds included)",
     cxxopts::value<double>(),
     "S")
    ("scope",
     "layer (each weight matrix pruned to S) or global (one ranking over all weights)",
     cxxopts::value<std::string>()->default_value("layer"),
     "SCOPE");
  // clang-format on
  cli::add_output_option(options, "Pruned adapter bundle");
}

int run(const cxxopts::ParseResult& result, const std::vector<std::string>& args) {
  const std::string input = cli::required_string(result, "input", "-i/--input");
  if (!result.count("sparsity")) throw UsageError("missing --sparsity");
  const double sparsity = result["sparsity"].as<double>();
  if (!(sparsity >= 0.0 && sparsity <= 1.0)) throw UsageError("--sparsity must be in [0, 1]");
  const vpet::peft::PruneScope scope =
      vpet::peft::parse_prune_scope(result["scope"].as<std::string>(), "--scope");
  vpet::io::OutputSet outputs;
  vpet::io::AtomicOutput& output = outputs.open("-o/--output", result["output"].as<std::string>());

  vpet::peft::Bundle bundle = vpet::peft::read_bundle(input);
  vpet::peft::PruneReport report;
  try {
    report = vpet::peft::prune_lion_bundle(bundle, sparsity, scope);
  } catch (const UsageError&) {
    throw;
  } catch (const vpet::Error& e) {
    throw vpet::Error(input + ": " + e.what());
  }
  std::int64_t parameters = 0;
  for (const auto& [name, tensor] : bundle.tensors) parameters += tensor.numel();
  parameters -= report.pruned;
  nlohmann::json round = {{"sparsity", sparsity},
                          {"scope", result["scope"].as<std::string>()},
                          {"weights", report.weights},
                          {"pruned", report.pruned},
                          {"params_trainable", parameters}};
  bundle.training["pruning"].push_back(round);
  bundle.training["params_trainable"] = parameters;
  char line[200];
  std::snprintf(line, sizeof line,
                "pruned %lld of %lld implicit-layer weights (%.1f%%; %lld in this round); %lld "
                "trainable parameters remain",
                static_cast<long long>(report.pruned), static_cast<long long>(report.weights),
                100.0 * double(report.pruned) / double(report.weights),
                static_cast<long long>(report.newly_pruned), static_cast<long long>(parameters));
  cli::info(line);
  vpet::peft::write_bundle(output, bundle, "lion-prune", args);
  outputs.commit();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args = vpet::cli::command_line(argc, argv);
  return vpet::cli::run_program(
      {"lion-prune", "Prune a LION adapter's implicit layers by weight magnitude.",
       "-i ADAPTER --sparsity S [--scope global|layer] -o PRUNED", declare,
       [&](const cxxopts::ParseResult& result) { return run(result, args); }},
      argc, argv);
}
