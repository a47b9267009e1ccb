#include "vpet/report/runs.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <set>

#include "vpet/error.h"

namespace vpet::report {

namespace fs = std::filesystem;

namespace {

std::string regex_escape(char c) {
  static const std::string special = R"(\^$.|?*+()[]{})";
  return special.find(c) != std::string::npos ? std::string("\\") + c : std::string(1, c);
}

bool has_extension(const std::string& name, const std::vector<std::string>& extensions) {
  for (const std::string& extension : extensions) {
    if (name.size() > extension.size() &&
        name.compare(name.size() - extension.size(), extension.size(), extension) == 0) {
      return true;
    }
  }
  return false;
}

// The folder names a split's images sit in, below the task's folder.
bool is_split_name(const std::string& name) {
  static const std::set<std::string> splits = {"train",      "val",    "valid",
                                               "validation", "test",   "trainval",
                                               "train800",   "val200", "train800val200"};
  return splits.count(name) > 0;
}

std::string parent_name(const fs::path& path) {
  const fs::path parent = path.parent_path();
  return parent.empty() ? std::string(".") : parent.filename().string();
}

// The whole of a file ("-": standard input).
std::string read_text(const std::string& path) {
  std::ifstream file;
  if (path != "-") {
    file.open(path, std::ios::binary);
    if (!file) throw Error(path + ": cannot open");
  }
  std::istream& in = path == "-" ? std::cin : file;
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw Error(path + ": read failed");
  return text;
}

struct Entry {
  std::string where;  // FILE:LINE, or FILE:item N of an array
  nlohmann::json value;
};

// A file's JSON values: one document (an object, or an array of them, as
// jq and jq -s write), else one per line (JSON lines).
std::vector<Entry> json_entries(const std::string& path) {
  const std::string text = read_text(path);
  std::vector<Entry> entries;
  nlohmann::json whole = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (whole.is_array()) {
    for (std::size_t i = 0; i < whole.size(); ++i) {
      entries.push_back({path + ":item " + std::to_string(i + 1), std::move(whole[i])});
    }
    return entries;
  }
  if (!whole.is_discarded()) {
    entries.push_back({path + ":1", std::move(whole)});
    return entries;
  }
  std::size_t start = 0;
  for (std::int64_t number = 1; start < text.size(); ++number) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(number);
    nlohmann::json value = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (value.is_discarded()) throw Error(where + ": not JSON");
    entries.push_back({where, std::move(value)});
  }
  return entries;
}

std::optional<std::int64_t> seed_of(const nlohmann::json& object, const std::string& where) {
  const auto it = object.find("seed");
  if (it == object.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer()) throw Error(where + ": \"seed\" is not an integer");
  return it->get<std::int64_t>();
}

std::string string_key(const nlohmann::json& object, const char* key, const std::string& where) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return "";
  if (!it->is_string() || it->get<std::string>().empty()) {
    throw Error(where + ": \"" + key + "\" is not a non-empty string");
  }
  return it->get<std::string>();
}

// The labels an object gives, under the pattern's (which win).
RunLabels labels_of(const nlohmann::json& object, const std::optional<RunLabels>& from_path,
                    const NamePattern* pattern, const std::string& file, const std::string& where) {
  RunLabels labels;
  labels.task = string_key(object, "task", where);
  if (labels.task.empty()) {
    const std::string data = string_key(object, "data", where);
    labels.task = data.empty() ? parent_name(fs::path(file)) : task_of_data(data);
  }
  labels.method = string_key(object, "method", where);
  labels.seed = seed_of(object, where);
  if (from_path) {
    if (pattern->has_task()) labels.task = from_path->task;
    if (pattern->has_method()) labels.method = from_path->method;
    if (pattern->has_seed()) labels.seed = from_path->seed;
  }
  return labels;
}

bool is_number(const nlohmann::json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_number();
}

// Appends a point, dropping what a resumed run repeats from `step` on.
void add_point(std::vector<CurvePoint>& curve, double step, double value) {
  while (!curve.empty() && curve.back().step >= step) curve.pop_back();
  curve.push_back({step, value});
}

// A --metrics line into its run's curves.
void add_log_line(CurveRun& run, const nlohmann::json& line, const std::string& type,
                  const std::string& where) {
  if (type != "step" && type != "eval") return;  // summary, run and later kinds carry no points
  if (!is_number(line, "step")) throw Error(where + ": a \"" + type + "\" line without a step");
  const double step = line["step"].get<double>();
  if (type == "step") {
    // A non-finite loss is written as null: a gap in the curve.
    if (is_number(line, "loss")) add_point(run.loss, step, line["loss"].get<double>());
    if (is_number(line, "lr")) add_point(run.lr, step, line["lr"].get<double>());
  } else if (is_number(line, "top1")) {
    add_point(run.val_top1, step, line["top1"].get<double>());
  }
}

}  // namespace

NamePattern::NamePattern(const std::string& pattern) : text_(pattern) {
  std::string expression = "(?:^|/)";
  int group = 0;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '*') {
      expression += "[^/]*";
      continue;
    }
    if (pattern[i] != '{') {
      expression += regex_escape(pattern[i]);
      continue;
    }
    const std::size_t end = pattern.find('}', i);
    const std::string field = end == std::string::npos ? "" : pattern.substr(i + 1, end - i - 1);
    int* slot = field == "task"     ? &task_group_
                : field == "method" ? &method_group_
                : field == "seed"   ? &seed_group_
                                    : nullptr;
    if (!slot) {
      throw UsageError("--name-pattern '" + pattern + "': '" + pattern.substr(i) +
                       "' is not {task}, {method} or {seed}");
    }
    if (*slot) throw UsageError("--name-pattern '" + pattern + "': {" + field + "} twice");
    *slot = ++group;
    expression += field == "seed" ? "([0-9]+)" : "([^/]+?)";
    i = end;
  }
  if (group == 0) {
    throw UsageError("--name-pattern '" + pattern + "' has none of {task}, {method}, {seed}");
  }
  regex_ = std::regex(expression + "$");
}

std::optional<RunLabels> NamePattern::match(const std::string& path) const {
  std::smatch groups;
  if (!std::regex_search(path, groups, regex_)) return std::nullopt;
  RunLabels labels;
  if (task_group_) labels.task = groups[task_group_].str();
  if (method_group_) labels.method = groups[method_group_].str();
  if (seed_group_) {
    const std::string digits = groups[seed_group_].str();
    if (digits.size() > 18) return std::nullopt;  // no int64 holds it
    labels.seed = std::stoll(digits);
  }
  return labels;
}

std::vector<std::string> input_files(const std::vector<std::string>& arguments) {
  std::vector<std::string> files;
  for (const std::string& argument : arguments) {
    std::error_code error;
    if (argument == "-" || fs::is_regular_file(argument, error) ||
        (fs::exists(argument, error) && !fs::is_directory(argument, error))) {
      files.push_back(argument);  // a FIFO or /dev/stdin reads as a file
      continue;
    }
    if (!fs::is_directory(argument, error)) throw Error(argument + ": no such file or folder");
    std::vector<std::string> found;
    fs::recursive_directory_iterator it(argument, fs::directory_options::follow_directory_symlink,
                                        error);
    for (; !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
      const std::string name = it->path().filename().string();
      if (it->is_regular_file(error) && has_extension(name, {".json", ".jsonl"})) {
        found.push_back(it->path().string());
      }
    }
    if (error) throw Error(argument + ": cannot list the folder: " + error.message());
    if (found.empty()) throw Error(argument + ": no .json or .jsonl file in the folder");
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  }
  return files;
}

std::string task_of_data(const std::string& data) {
  std::string path = data;
  // A kind prefix (list:, json:, ...) is not part of the path.
  for (const char* kind : {"folder:", "list:", "idx:", "json:", "csv:"}) {
    if (path.rfind(kind, 0) == 0) path = path.substr(std::string(kind).size());
  }
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  const fs::path spec(path);
  const std::string last = spec.filename().string();
  const bool is_file = last.find('.') != std::string::npos;
  if (is_file || is_split_name(last)) return parent_name(spec);
  return last.empty() ? path : last;
}

Inputs read_inputs(const std::vector<std::string>& files, const NamePattern* pattern) {
  Inputs inputs;
  for (const std::string& file : files) {
    // A log whose path the pattern does not fit is named by its run line;
    // a report needs the pattern's fields.
    const std::optional<RunLabels> from_path =
        pattern ? pattern->match(file) : std::optional<RunLabels>();
    const NamePattern* matched = from_path ? pattern : nullptr;
    std::optional<CurveRun> log;
    for (Entry& entry : json_entries(file)) {
      const std::string& where = entry.where;
      nlohmann::json& object = entry.value;
      if (!object.is_object()) throw Error(where + ": not a JSON object");
      const auto type = object.find("type");
      if (type != object.end()) {
        if (!type->is_string()) throw Error(where + ": \"type\" is not a string");
        if (!log) {
          log.emplace();
          log->source = file;
          log->labels = labels_of(nlohmann::json::object(), from_path, matched, file, where);
          if (log->labels.method.empty()) log->labels.method = fs::path(file).stem().string();
        }
        // The run's own description (a run line) names it, unless the path does.
        if (*type == "run") {
          RunLabels labels = labels_of(object, from_path, matched, file, where);
          if (!labels.method.empty()) log->labels = labels;
        }
        add_log_line(*log, object, *type, where);
        continue;
      }
      if (!object.contains("top1")) {
        throw Error(where + ": neither a peft-eval --json report (no \"top1\") nor a " +
                    "peft-train --metrics line (no \"type\")");
      }
      if (pattern && !from_path) {
        throw Error(where + ": the path does not match --name-pattern '" + pattern->text() + "'");
      }
      EvalRun run;
      run.labels = labels_of(object, from_path, matched, file, where);
      if (run.labels.method.empty()) {
        throw Error(where + ": no \"method\", and --name-pattern gives none");
      }
      run.source = where;
      run.report = std::move(object);
      inputs.evals.push_back(std::move(run));
    }
    if (log) inputs.curves.push_back(std::move(*log));
  }
  return inputs;
}

}  // namespace vpet::report
