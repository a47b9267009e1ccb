// vpet-report: paper-ready tables and figures from what peft-eval --json and
// peft-train --metrics write. Rows are methods, columns tasks (mean ± std
// over seeds), group means and both VTAB-1k means, and trainable
// parameters; figures go through gnuplot.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vpet/cli/log.h"
#include "vpet/cli/program.h"
#include "vpet/error.h"
#include "vpet/io/output_set.h"
#include "vpet/report/gnuplot.h"
#include "vpet/report/plots.h"
#include "vpet/report/runs.h"
#include "vpet/report/summary.h"
#include "vpet/report/table.h"

namespace cli = vpet::cli;
namespace report = vpet::report;
using vpet::UsageError;

namespace {

void declare(cxxopts::Options& options) {
  // clang-format off
  options.add_options("Input")
    ("inputs",
     "peft-eval --json reports and peft-train --metrics logs: files, or folders searched for "
     "*.json and *.jsonl ('-': standard input)",
     cxxopts::value<std::vector<std::string>>(), "PATH")
    ("name-pattern",
     "Take task, method and seed from the end of each file's path, e.g. "
     "'{task}/{method}-s{seed}.json'",
     cxxopts::value<std::string>(), "PATTERN");
  options.add_options("Output")
    ("f,format", "Table format: text, markdown, latex (booktabs) or tsv",
     cxxopts::value<std::string>()->default_value("text"), "FORMAT")
    ("metric", "The report key tabulated: top1, top5 or any number a report holds",
     cxxopts::value<std::string>()->default_value("top1"), "KEY")
    ("digits", "Decimals of the metric and of --column values",
     cxxopts::value<int>()->default_value("2"), "N")
    ("methods", "Rows, in this order (default: every method, as first read)",
     cxxopts::value<std::vector<std::string>>(), "LIST")
    ("tasks", "Task columns, in this order (default: by group, then as first read)",
     cxxopts::value<std::vector<std::string>>(), "LIST")
    ("group",
     "A group of tasks with a mean column (repeatable; replaces VTAB-1k's "
     "Natural/Specialized/Structured)",
     cxxopts::value<std::vector<std::string>>(), "NAME=TASK,...")
    ("no-groups", "No group means, not even VTAB-1k's")
    ("with-head", "Count the head's parameters in the parameter column and figure")
    ("column", "An extra column: the mean of a report's number, e.g. 'img/s=images_per_second' "
     "(repeatable; KEY.KEY reaches into objects)",
     cxxopts::value<std::vector<std::string>>(), "LABEL=KEY")
    ("plot-params",
     "Figure of the metric against trainable parameters (log axis); FILE ends in .png or .svg "
     "(repeatable)",
     cxxopts::value<std::vector<std::string>>(), "FILE")
    ("plot-curves",
     "Figure of the --metrics logs: loss, learning rate, validation top-1 against the step; "
     ".png or .svg (repeatable)",
     cxxopts::value<std::vector<std::string>>(), "FILE")
    ("o,output", "The table ('-': standard output)",
     cxxopts::value<std::string>()->default_value("-"), "FILE");
  // clang-format on
  options.parse_positional({"inputs"});
  options.positional_help("");
}

std::vector<std::string> list_option(const cxxopts::ParseResult& result, const char* name) {
  return result.count(name) ? result[name].as<std::vector<std::string>>()
                            : std::vector<std::string>();
}

// cxxopts splits a list option's values at commas: "--group A=x,y" arrives
// as "A=x" and "y". A piece without '=' belongs to the one before it.
std::vector<std::string> assignments(const cxxopts::ParseResult& result, const char* name) {
  std::vector<std::string> joined;
  for (const std::string& piece : list_option(result, name)) {
    if (piece.find('=') == std::string::npos && !joined.empty()) {
      joined.back() += "," + piece;
    } else {
      joined.push_back(piece);
    }
  }
  return joined;
}

report::SummaryOptions summary_options(const cxxopts::ParseResult& result) {
  report::SummaryOptions options;
  options.metric = result["metric"].as<std::string>();
  options.with_head = result.count("with-head") > 0;
  options.methods = list_option(result, "methods");
  options.tasks = list_option(result, "tasks");
  const std::vector<std::string> groups = assignments(result, "group");
  if (result.count("no-groups") && !groups.empty()) {
    throw UsageError("--no-groups and --group contradict each other");
  }
  if (!result.count("no-groups")) {
    if (groups.empty()) options.groups = report::vtab_groups();
    for (const std::string& group : groups) options.groups.push_back(report::parse_group(group));
  }
  for (const std::string& column : assignments(result, "column")) {
    options.extra.push_back(report::parse_extra_column(column));
  }
  return options;
}

struct Figure {
  std::string option;
  std::string path;
  report::FigureFormat format;
  vpet::io::AtomicOutput* output = nullptr;
};

int run(const cxxopts::ParseResult& result) {
  const std::vector<std::string> arguments = list_option(result, "inputs");
  if (arguments.empty()) throw UsageError("no input: give report files or folders (or '-')");
  const int digits = result["digits"].as<int>();
  if (digits < 0 || digits > 9) throw UsageError("--digits: 0 to 9");
  const report::TableFormat format = report::parse_table_format(result["format"].as<std::string>());
  const report::SummaryOptions options = summary_options(result);
  std::optional<report::NamePattern> pattern;
  if (result.count("name-pattern")) pattern.emplace(result["name-pattern"].as<std::string>());

  // Every output named before anything is read: two options naming one file
  // and an unwritable place fail now, and all appear together at the end.
  vpet::io::OutputSet outputs;
  std::vector<Figure> figures;
  for (const char* option : {"plot-params", "plot-curves"}) {
    for (const std::string& path : list_option(result, option)) {
      figures.push_back({std::string("--") + option, path,
                         report::figure_format_of(path, std::string("--") + option)});
    }
  }
  const bool curves_only =
      !figures.empty() && !result.count("output") && list_option(result, "plot-params").empty();
  vpet::io::AtomicOutput& table_output =
      outputs.open("-o/--output", result["output"].as<std::string>(), /*binary=*/false);
  for (Figure& figure : figures) figure.output = &outputs.open(figure.option, figure.path);

  const report::Inputs inputs =
      report::read_inputs(report::input_files(arguments), pattern ? &*pattern : nullptr);
  cli::info("read " + std::to_string(inputs.evals.size()) + " reports and " +
            std::to_string(inputs.curves.size()) + " training logs");
  // A table needs reports; curves alone (logs only, no -o) print none.
  std::optional<report::Summary> summary;
  if (!inputs.evals.empty() || !curves_only) summary = report::summarize(inputs.evals, options);
  if (summary) {
    const std::string text = report::render_table(report::make_table(*summary, digits), format);
    table_output.write(text.data(), text.size());
  }
  for (const Figure& figure : figures) {
    std::string script;
    if (figure.option == "--plot-params") {
      script = report::params_plot_script(*summary, figure.format);
    } else {
      if (inputs.curves.empty())
        throw vpet::Error("--plot-curves: no --metrics log among the inputs");
      script = report::curves_plot_script(inputs.curves, figure.format);
    }
    const std::string bytes = report::run_gnuplot(script, figure.path);
    figure.output->write(bytes.data(), bytes.size());
  }
  outputs.commit();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return cli::run_program(
      {"vpet-report", "Tables and figures from peft-eval --json reports and --metrics logs",
       "[OPTION...] PATH...", declare, run},
      argc, argv);
}
