#include "vpet/data/dataset.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <system_error>

#include "vpet/data/listing.h"
#include "vpet/data/sampling.h"
#include "vpet/error.h"
#include "vpet/image/decode.h"
#include "vpet/strings.h"

namespace fs = std::filesystem;

namespace vpet::data {
namespace {

struct ParsedSpec {
  DatasetKind kind;
  std::string path;
};

ParsedSpec parse_spec(const std::string& spec) {
  static const std::pair<const char*, DatasetKind> kPrefixes[] = {{"folder:", DatasetKind::kFolder},
                                                                  {"list:", DatasetKind::kList},
                                                                  {"idx:", DatasetKind::kIdx},
                                                                  {"json:", DatasetKind::kJson},
                                                                  {"csv:", DatasetKind::kCsv}};
  for (const auto& [prefix, kind] : kPrefixes) {
    if (starts_with(spec, prefix)) return {kind, spec.substr(std::string(prefix).size())};
  }
  std::error_code ec;
  if (fs::is_directory(spec, ec)) return {DatasetKind::kFolder, spec};
  if (spec.find("idx3-ubyte") != std::string::npos) return {DatasetKind::kIdx, spec};
  const std::string extension = fs::path(spec).extension().string();
  if (extension == ".json") return {DatasetKind::kJson, spec};
  if (extension == ".csv") return {DatasetKind::kCsv, spec};
  return {DatasetKind::kList, spec};
}

void require_exists(const std::string& path, const std::string& what = "") {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(path + ": no such file or directory" + what);
}

std::string derived_labels_path(const std::string& images) {
  const fs::path p(images);
  std::string name = p.filename().string();
  const size_t at = name.find("images-idx3");
  if (at == std::string::npos) {
    throw Error(images + ": cannot derive the labels file name (no 'images-idx3' in the name); " +
                "give the labels file explicitly");
  }
  name.replace(at, std::string("images-idx3").size(), "labels-idx1");
  return (p.parent_path() / name).string();
}

// A requested class, by exact name first, then as a label number.
int64_t resolve_class(const std::string& spec, const std::vector<std::string>& names,
                      const std::string& wanted) {
  const auto it = std::find(names.begin(), names.end(), wanted);
  if (it != names.end()) return it - names.begin();
  const bool digits =
      !wanted.empty() && wanted.size() < 10 &&
      std::all_of(wanted.begin(), wanted.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (digits && std::stoll(wanted) < static_cast<int64_t>(names.size())) return std::stoll(wanted);
  std::string known;
  for (size_t k = 0; k < names.size() && k < 10; ++k) known += (k ? ", " : "") + names[k];
  if (names.size() > 10) known += ", … (" + std::to_string(names.size()) + " in all)";
  throw UsageError("unknown class '" + wanted + "' in " + spec + " (classes: " + known + ")");
}

// Keeps the listed classes, relabelled in the order given.
void select_classes(const std::string& spec, const std::vector<std::string>& wanted,
                    std::vector<Sample>* samples, std::vector<std::string>* names) {
  std::vector<int64_t> new_label(names->size(), -1);
  std::vector<std::string> kept;
  for (const std::string& w : wanted) {
    const int64_t old = resolve_class(spec, *names, w);
    if (new_label[old] >= 0) {
      throw UsageError("class '" + w + "' is selected twice (it is " + (*names)[old] + ")");
    }
    new_label[old] = static_cast<int64_t>(kept.size());
    kept.push_back((*names)[old]);
  }
  std::vector<Sample> selected;
  for (Sample& s : *samples) {
    if (new_label[s.label] < 0) continue;
    s.label = new_label[s.label];
    selected.push_back(std::move(s));
  }
  *samples = std::move(selected);
  *names = std::move(kept);
}

std::vector<Sample> keep_positions(std::vector<Sample>* samples,
                                   const std::vector<size_t>& positions) {
  std::vector<Sample> kept;
  kept.reserve(positions.size());
  for (size_t p : positions) kept.push_back(std::move((*samples)[p]));
  return kept;
}

// per_class draws each class's subset from the class's own stream of the
// seed (so a range of one class's draw does not depend on how much of the
// other classes' was drawn), then limit draws from what is left; both keep
// the dataset order.
void sample_subset(const DatasetOptions& options, int64_t num_classes,
                   std::vector<Sample>* samples) {
  if (options.per_class > 0) {
    std::vector<std::vector<size_t>> by_class(num_classes);
    for (size_t i = 0; i < samples->size(); ++i) by_class[(*samples)[i].label].push_back(i);
    std::vector<size_t> positions;
    const auto from = static_cast<size_t>(options.per_class_from);
    for (size_t label = 0; label < by_class.size(); ++label) {
      const std::vector<size_t>& members = by_class[label];
      SeededRandom random(options.seed, label);
      for (size_t j : random.choose_range(members.size(), from, from + size_t(options.per_class))) {
        positions.push_back(members[j]);
      }
    }
    std::sort(positions.begin(), positions.end());
    *samples = keep_positions(samples, positions);
  }
  if (options.limit > 0) {
    SeededRandom random(options.seed);
    *samples = keep_positions(samples, random.choose(samples->size(), options.limit));
  }
}

}  // namespace

const char* kind_name(DatasetKind kind) {
  switch (kind) {
    case DatasetKind::kFolder:
      return "folder";
    case DatasetKind::kList:
      return "list";
    case DatasetKind::kIdx:
      return "idx";
    case DatasetKind::kJson:
      return "json";
    case DatasetKind::kCsv:
      return "csv";
  }
  return "?";
}

namespace {

// Renumbers the listing's samples to the classes of `classes` by name.
void map_onto(const std::vector<std::string>& classes, Listing& listing) {
  std::map<std::string, int64_t> number;
  for (size_t i = 0; i < classes.size(); ++i) number.emplace(classes[i], int64_t(i));
  for (size_t i = 0; i < listing.samples.size(); ++i) {
    Sample& s = listing.samples[i];
    const std::string& name = listing.class_names[size_t(s.label)];
    const auto it = number.find(name);
    if (it == number.end()) {
      const std::string where = i < listing.origins.size() ? listing.origins[i] : s.path;
      throw Error(where + ": class '" + name + "' is not one of the " +
                  std::to_string(classes.size()) + " classes trained on (" + classes.front() +
                  (classes.size() > 1 ? ", …, " + classes.back() : std::string()) + ")");
    }
    s.label = it->second;
  }
  listing.class_names = classes;
}

}  // namespace

Dataset::Dataset(const std::string& spec, const DatasetOptions& options)
    : spec_(spec), options_(options) {
  if (options.per_class < 0) {
    throw UsageError("per-class count must be positive, got " + std::to_string(options.per_class));
  }
  if (options.per_class_from < 0 || (options.per_class_from > 0 && options.per_class == 0)) {
    throw UsageError("a per-class range needs a start of at least 0 and an end after it, got " +
                     std::to_string(options.per_class_from) + ":" +
                     std::to_string(options.per_class_from + options.per_class));
  }
  if (options.limit < 0) {
    throw UsageError("sample limit must be positive, got " + std::to_string(options.limit));
  }
  const ParsedSpec parsed = parse_spec(spec);
  kind_ = parsed.kind;
  path_ = parsed.path;
  if (path_.empty()) throw UsageError("empty dataset path in '" + spec + "'");
  require_exists(path_);
  std::error_code ec;
  const bool is_dir = fs::is_directory(path_, ec);
  if (kind_ == DatasetKind::kFolder && !is_dir) {
    throw Error(path_ + ": not a directory (a folder dataset is a directory of class folders)");
  }
  if (kind_ != DatasetKind::kFolder && is_dir) {
    throw Error(path_ + ": is a directory, not a " + kind_name(kind_) + " file");
  }

  Listing listing;
  switch (kind_) {
    case DatasetKind::kFolder:
      listing = list_folder(path_);
      break;
    case DatasetKind::kList:
      listing = list_file(path_);
      break;
    case DatasetKind::kIdx:
      labels_path_ = options.labels.empty() ? derived_labels_path(path_) : options.labels;
      require_exists(labels_path_, " (the labels file for " + path_ + ")");
      listing = list_idx(path_, labels_path_);
      break;
    case DatasetKind::kJson:
      listing = list_json(path_, options.root);
      break;
    case DatasetKind::kCsv:
      listing = list_csv(path_, options.root);
      break;
  }
  if (!options.class_set.empty()) map_onto(options.class_set, listing);
  listed_ = listing.samples.size();
  samples_ = std::move(listing.samples);
  class_names_ = std::move(listing.class_names);
  listed_class_names_ = class_names_;
  idx_ = std::move(listing.idx);

  if (!options.classes.empty()) select_classes(spec_, options.classes, &samples_, &class_names_);
  sample_subset(options, num_classes(), &samples_);
  if (samples_.empty()) throw Error(spec_ + ": no samples left after selecting classes");
}

image::Image Dataset::image(size_t i) const {
  const Sample& s = samples_[i];
  if (kind_ != DatasetKind::kIdx) return image::read_image(s.path);
  image::Image out;
  out.width = idx_->cols;
  out.height = idx_->rows;
  out.channels = 1;
  const size_t bytes = static_cast<size_t>(idx_->rows) * idx_->cols;
  const auto begin = idx_->pixels.begin() + static_cast<std::ptrdiff_t>(s.index * bytes);
  out.pixels.assign(begin, begin + static_cast<std::ptrdiff_t>(bytes));
  return out;
}

nlohmann::json Dataset::describe() const {
  nlohmann::json j;
  j["spec"] = spec_;
  j["kind"] = kind_name(kind_);
  j["path"] = path_;
  if (kind_ == DatasetKind::kIdx) j["labels"] = labels_path_;
  if (!options_.root.empty()) j["root"] = options_.root;
  j["samples"] = samples_.size();
  j["listed"] = listed_;
  j["classes"] = class_names_;
  nlohmann::json selection;
  selection["classes"] = options_.classes;
  selection["per_class"] = options_.per_class;
  if (options_.per_class_from > 0) selection["per_class_from"] = options_.per_class_from;
  selection["limit"] = options_.limit;
  selection["seed"] = options_.seed;
  j["selection"] = selection;
  return j;
}

}  // namespace vpet::data
