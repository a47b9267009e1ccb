// The runs vpet-report reads: peft-eval's --json reports and peft-train's
// --metrics logs, from files and folders, recognised by their content (JSON
// lines, or one document: an object or an array of objects, as jq writes),
// each labelled with its task, method and seed.
//
// Where the labels come from, first that applies (vpet-report(1), LABELS):
//  - --name-pattern's fields, matched against the end of the file's path
//    ('{task}/{method}-s{seed}.json', a sweep's layout);
//  - the object's own keys: "task", "method", "seed" (peft-eval writes
//    "method", "seed" and "data"; a --metrics log's "run" line the same);
//  - the task: the name of the folder holding the evaluated data set
//    ("data": vtab-1k/cifar/test.txt is cifar), else of the folder holding
//    the JSON file; the method of a log without a "run" line: its file's
//    name without extension.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <string>
#include <vector>

namespace vpet::report {

struct RunLabels {
  std::string task;
  std::string method;
  std::optional<std::int64_t> seed;  // none: a run that names no seed
};

// One evaluation: a peft-eval report object.
struct EvalRun {
  RunLabels labels;
  std::string source;  // "FILE:LINE", for messages
  nlohmann::json report;
};

struct CurvePoint {
  double step = 0;
  double value = 0;
};

// One training's log. A resumed run appends to its log: a step that goes
// back replaces what the log held from there on (the last line of a step wins).
struct CurveRun {
  RunLabels labels;
  std::string source;  // the file
  std::vector<CurvePoint> loss, lr, val_top1;
};

struct Inputs {
  std::vector<EvalRun> evals;
  std::vector<CurveRun> curves;
};

// A pattern over the end of a file's path with the fields {task}, {method}
// and {seed} (digits); other characters match themselves, '*' any run of
// characters within one path component.
class NamePattern {
 public:
  // Throws vpet::UsageError for an unknown field or a pattern without any.
  explicit NamePattern(const std::string& pattern);
  // The fields the path gives; std::nullopt when it does not match.
  std::optional<RunLabels> match(const std::string& path) const;
  // Which fields the pattern has.
  bool has_task() const { return task_group_ > 0; }
  bool has_method() const { return method_group_ > 0; }
  bool has_seed() const { return seed_group_ > 0; }
  const std::string& text() const { return text_; }

 private:
  std::string text_;
  std::regex regex_;
  int task_group_ = 0, method_group_ = 0, seed_group_ = 0;
};

// The files the arguments name, in the order given: a file as it is ("-":
// standard input), a folder's *.json and *.jsonl files below it in sorted
// order. Throws vpet::Error naming an argument that does not exist or a
// folder that holds none.
std::vector<std::string> input_files(const std::vector<std::string>& arguments);

// Reads every file's objects. Throws vpet::Error naming the file and line of
// a line that is not JSON, not an object, neither a report nor a log line,
// or lacks what its kind needs; and of a report whose path --name-pattern
// does not match (a log's own run line names it).
Inputs read_inputs(const std::vector<std::string>& files, const NamePattern* pattern);

// The task a data set specification names: the folder holding a list file
// or JSON split (vtab-1k/cifar/test.txt: cifar), the folder above an image
// folder (flowers/test: flowers).
std::string task_of_data(const std::string& data);

}  // namespace vpet::report
