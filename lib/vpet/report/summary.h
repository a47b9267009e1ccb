// The numbers of a results table: per method and task the mean and sample
// standard deviation over seeds, group means, the two overall means of the
// VTAB-1k literature, trainable parameters and any extra column.
//
// Means over tasks are of the task means (each task weighs the same however
// many seeds it ran); a mean is missing when one of its tasks is: a partial
// average beside complete ones would mislead.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vpet/report/runs.h"

namespace vpet::report {

struct Group {
  std::string name;
  std::vector<std::string> tasks;
};

// VTAB-1k's three groups under the task names of the NOAH/V-PETL layout
// (cifar, caltech101, ..., smallnorb_ele), with the usual aliases (cifar100,
// flowers102, pets, pcam, retinopathy, ...).
std::vector<Group> vtab_groups();

// "NAME=TASK,TASK,..." (--group). Throws vpet::UsageError.
Group parse_group(const std::string& text);

// A column of any number a report holds ("LABEL=KEY.PATH", --column): its
// mean over the method's runs.
struct ExtraColumn {
  std::string label;
  std::vector<std::string> key;  // the path, one object key a step
};
ExtraColumn parse_extra_column(const std::string& text);

struct SummaryOptions {
  std::string metric = "top1";       // the report key tabulated
  bool with_head = false;            // parameters with the head's
  std::vector<std::string> methods;  // rows, in order; empty: as first seen
  std::vector<std::string> tasks;    // columns, in order; empty: grouped, then as first seen
  std::vector<Group> groups;         // empty: none
  std::vector<ExtraColumn> extra;
};

struct Stats {
  std::int64_t runs = 0;
  double mean = 0;
  double std = 0;  // sample deviation (n - 1); 0 for one run
};

struct Summary {
  std::string metric;
  bool with_head = false;
  std::vector<std::string> methods, tasks;
  std::vector<Group> groups;  // those with a task in the table, tasks filtered to the table's
  std::vector<ExtraColumn> extra;
  std::vector<std::vector<Stats>> cells;                         // [method][task]; runs 0: not run
  std::vector<double> params;                                    // [method]: mean over its runs
  std::vector<std::vector<std::optional<double>>> extra_values;  // [method][column]

  std::optional<double> task_mean(std::size_t method, const std::vector<std::string>& tasks) const;
  std::optional<double> group_mean(std::size_t method, std::size_t group) const;
  std::optional<double> mean_of_group_means(std::size_t method) const;
  std::optional<double> mean_of_tasks(std::size_t method) const;
  // The one number per method a figure shows: the task's mean for one
  // task, the mean of the group means for two groups or more, else the
  // mean of the tasks.
  std::optional<double> headline(std::size_t method) const;
  std::string headline_label() const;  // "top-1 on cifar", "mean top-1 of 3 group means", ...
};

// Throws vpet::Error naming the reports of two runs with the same task,
// method and seed, a report without the metric or the parameter count,
// and a --methods/--tasks name no report has.
Summary summarize(const std::vector<EvalRun>& runs, const SummaryOptions& options);

// "top-1" for top1, "top-5" for top5, the key otherwise.
std::string metric_label(const std::string& metric);

}  // namespace vpet::report
