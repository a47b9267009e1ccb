#include "vpet/report/summary.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "vpet/error.h"

namespace vpet::report {

namespace {

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::stringstream stream(text);
  std::string part;
  while (std::getline(stream, part, separator)) parts.push_back(part);
  if (!text.empty() && text.back() == separator) parts.emplace_back();
  return parts;
}

// NAME=REST, both non-empty. Throws vpet::UsageError naming the option.
std::pair<std::string, std::string> split_assignment(const std::string& text,
                                                     const std::string& option,
                                                     const std::string& form) {
  const std::size_t equals = text.find('=');
  if (equals == std::string::npos || equals == 0 || equals + 1 == text.size()) {
    throw UsageError(option + " '" + text + "': expected " + form);
  }
  return {text.substr(0, equals), text.substr(equals + 1)};
}

std::size_t index_of(const std::vector<std::string>& names, const std::string& name) {
  return std::size_t(std::find(names.begin(), names.end(), name) - names.begin());
}

void add_unique(std::vector<std::string>& names, const std::string& name) {
  if (index_of(names, name) == names.size()) names.push_back(name);
}

Stats stats_of(const std::vector<double>& values) {
  Stats stats;
  stats.runs = std::int64_t(values.size());
  if (values.empty()) return stats;
  double sum = 0;
  for (double v : values) sum += v;
  stats.mean = sum / double(values.size());
  if (values.size() > 1) {
    double squares = 0;
    for (double v : values) squares += (v - stats.mean) * (v - stats.mean);
    stats.std = std::sqrt(squares / double(values.size() - 1));
  }
  return stats;
}

const nlohmann::json* find_path(const nlohmann::json& object, const std::vector<std::string>& key) {
  const nlohmann::json* node = &object;
  for (const std::string& step : key) {
    if (!node->is_object()) return nullptr;
    const auto it = node->find(step);
    if (it == node->end()) return nullptr;
    node = &*it;
  }
  return node;
}

double number_key(const EvalRun& run, const std::string& key) {
  const auto it = run.report.find(key);
  if (it == run.report.end() || !it->is_number()) {
    throw Error(run.source + ": no number \"" + key + "\" in the report");
  }
  return it->get<double>();
}

// The tasks in table order: the groups' tasks as the groups list them, then
// the rest as first seen.
std::vector<std::string> order_tasks(const std::vector<std::string>& seen,
                                     const std::vector<Group>& groups) {
  std::vector<std::string> ordered;
  for (const Group& group : groups) {
    for (const std::string& task : group.tasks) {
      if (index_of(seen, task) < seen.size()) add_unique(ordered, task);
    }
  }
  for (const std::string& task : seen) add_unique(ordered, task);
  return ordered;
}

void check_known(const std::vector<std::string>& wanted, const std::vector<std::string>& seen,
                 const std::string& option) {
  for (const std::string& name : wanted) {
    if (index_of(seen, name) == seen.size()) {
      throw Error(option + ": no report of '" + name + "'");
    }
  }
}

std::optional<double> mean_of(const std::vector<std::optional<double>>& values) {
  if (values.empty()) return std::nullopt;
  double sum = 0;
  for (const std::optional<double>& v : values) {
    if (!v) return std::nullopt;
    sum += *v;
  }
  return sum / double(values.size());
}

}  // namespace

std::vector<Group> vtab_groups() {
  return {
      {"Natural",
       {"cifar", "cifar100", "caltech101", "dtd", "oxford_flowers102", "flowers102",
        "oxford_iiit_pet", "pets", "svhn", "sun397"}},
      {"Specialized",
       {"patch_camelyon", "pcam", "eurosat", "resisc45", "diabetic_retinopathy", "retinopathy"}},
      {"Structured",
       {"clevr_count", "clevr_dist", "dmlab", "kitti", "dsprites_loc", "dsprites_ori",
        "smallnorb_azi", "smallnorb_ele"}}};
}

Group parse_group(const std::string& text) {
  const auto [name, list] = split_assignment(text, "--group", "NAME=TASK,TASK,...");
  Group group{name, {}};
  for (const std::string& task : split(list, ',')) {
    if (task.empty()) throw UsageError("--group '" + text + "': an empty task name");
    add_unique(group.tasks, task);
  }
  return group;
}

ExtraColumn parse_extra_column(const std::string& text) {
  const auto [label, path] = split_assignment(text, "--column", "LABEL=KEY[.KEY...]");
  ExtraColumn column{label, split(path, '.')};
  for (const std::string& key : column.key) {
    if (key.empty()) throw UsageError("--column '" + text + "': an empty key");
  }
  return column;
}

std::string metric_label(const std::string& metric) {
  if (metric == "top1") return "top-1";
  if (metric == "top5") return "top-5";
  return metric;
}

Summary summarize(const std::vector<EvalRun>& runs, const SummaryOptions& options) {
  if (runs.empty()) throw Error("no peft-eval report among the inputs");
  std::vector<std::string> seen_methods, seen_tasks;
  for (const EvalRun& run : runs) {
    add_unique(seen_methods, run.labels.method);
    add_unique(seen_tasks, run.labels.task);
  }
  check_known(options.methods, seen_methods, "--methods");
  check_known(options.tasks, seen_tasks, "--tasks");

  Summary summary;
  summary.metric = options.metric;
  summary.with_head = options.with_head;
  summary.extra = options.extra;
  summary.methods = options.methods.empty() ? seen_methods : options.methods;
  summary.tasks = options.tasks.empty() ? order_tasks(seen_tasks, options.groups) : options.tasks;
  for (const Group& group : options.groups) {
    Group present{group.name, {}};
    for (const std::string& task : summary.tasks) {
      if (index_of(group.tasks, task) < group.tasks.size()) present.tasks.push_back(task);
    }
    if (!present.tasks.empty()) summary.groups.push_back(present);
  }

  const std::size_t methods = summary.methods.size(), tasks = summary.tasks.size();
  std::vector<std::vector<std::vector<double>>> values(methods,
                                                       std::vector<std::vector<double>>(tasks));
  std::vector<std::vector<double>> params(methods);
  std::vector<std::vector<std::vector<double>>> extra(
      methods, std::vector<std::vector<double>>(options.extra.size()));
  std::map<std::tuple<std::string, std::string, std::int64_t>, std::string> seeded;
  for (const EvalRun& run : runs) {
    const std::size_t m = index_of(summary.methods, run.labels.method);
    const std::size_t t = index_of(summary.tasks, run.labels.task);
    if (m == methods || t == tasks) continue;  // left out by --methods or --tasks
    if (run.labels.seed) {
      const auto [it, inserted] = seeded.emplace(
          std::make_tuple(run.labels.task, run.labels.method, *run.labels.seed), run.source);
      if (!inserted) {
        throw Error(run.source + ": " + run.labels.method + " on " + run.labels.task +
                    " with seed " + std::to_string(*run.labels.seed) + " again (first in " +
                    it->second + ")");
      }
    }
    values[m][t].push_back(number_key(run, options.metric));
    params[m].push_back(
        number_key(run, options.with_head ? "params_trainable_with_head" : "params_trainable"));
    for (std::size_t c = 0; c < options.extra.size(); ++c) {
      const nlohmann::json* value = find_path(run.report, options.extra[c].key);
      if (value && value->is_number()) extra[m][c].push_back(value->get<double>());
    }
  }

  summary.cells.assign(methods, std::vector<Stats>(tasks));
  summary.params.assign(methods, 0.0);
  summary.extra_values.assign(methods, std::vector<std::optional<double>>(options.extra.size()));
  for (std::size_t m = 0; m < methods; ++m) {
    for (std::size_t t = 0; t < tasks; ++t) summary.cells[m][t] = stats_of(values[m][t]);
    summary.params[m] = stats_of(params[m]).mean;
    for (std::size_t c = 0; c < options.extra.size(); ++c) {
      if (!extra[m][c].empty()) summary.extra_values[m][c] = stats_of(extra[m][c]).mean;
    }
  }
  return summary;
}

std::optional<double> Summary::task_mean(std::size_t method,
                                         const std::vector<std::string>& names) const {
  std::vector<std::optional<double>> means;
  for (const std::string& task : names) {
    const Stats& cell = cells[method][index_of(tasks, task)];
    means.push_back(cell.runs ? std::optional<double>(cell.mean) : std::nullopt);
  }
  return mean_of(means);
}

std::optional<double> Summary::group_mean(std::size_t method, std::size_t group) const {
  return task_mean(method, groups[group].tasks);
}

std::optional<double> Summary::mean_of_group_means(std::size_t method) const {
  std::vector<std::optional<double>> means;
  for (std::size_t g = 0; g < groups.size(); ++g) means.push_back(group_mean(method, g));
  return mean_of(means);
}

std::optional<double> Summary::mean_of_tasks(std::size_t method) const {
  return task_mean(method, tasks);
}

std::optional<double> Summary::headline(std::size_t method) const {
  return groups.size() >= 2 ? mean_of_group_means(method) : mean_of_tasks(method);
}

std::string Summary::headline_label() const {
  const std::string metric = metric_label(this->metric);
  if (tasks.size() == 1) return metric + " on " + tasks[0];
  if (groups.size() >= 2) {
    return "mean " + metric + " of " + std::to_string(groups.size()) + " group means (" +
           std::to_string(tasks.size()) + " tasks)";
  }
  return "mean " + metric + " of " + std::to_string(tasks.size()) + " tasks";
}

}  // namespace vpet::report
