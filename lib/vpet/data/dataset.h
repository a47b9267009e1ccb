// Dataset specs (DESIGN §5): a folder of class subfolders, a list file of
// `path label` lines (VTAB-1k), or MNIST-style IDX files; optionally a subset
// of classes and a seeded per-class/overall sample limit.
//
// Spec detection: `folder:`, `list:`, `idx:`, `json:` or `csv:` force a kind;
// otherwise a directory is a folder, a path containing "idx3-ubyte" is IDX,
// one ending in .json or .csv a JSON or CSV split (VPT's FGVC train.json:
// {"path": label}; a CSV with a path,label header), anything else is a list
// file.
//
// Folder: classes are the sorted subfolder names (hidden ones too, symlinks
// followed, as torchvision does); .jpg/.jpeg/.png files at any depth, in
// sorted(os.walk()) order; other files are ignored; a class folder without
// images is an error.
// List file: one `path label` per line, split at the last run of whitespace
// (paths may contain spaces); relative paths are relative to the list file's
// directory. Blank lines and lines starting with '#' are skipped; CRLF and a
// UTF-8 BOM are tolerated. Sample.index counts entries, not lines. Class
// names are "0".."K-1", K = largest label + 1. Images are not opened until
// decoded, so a missing image surfaces in the loader (where skip_bad applies).
// IDX: the labels file is derived from the images file's name or given in
// DatasetOptions::labels; pixels are held in memory, 1 channel.
//
// Subsets: classes first (relabelled in the order given), then per_class
// (each class's draw in label order from one seeded generator; a class with
// fewer samples keeps them all; per_class_from skips the draw's first ones),
// then limit; kept samples stay in dataset order.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "vpet/data/idx_file.h"
#include "vpet/image/image.h"

namespace vpet::data {

enum class DatasetKind { kFolder, kList, kIdx, kJson, kCsv };

// "folder", "list", "idx", "json", "csv": the names used in specs and output headers.
const char* kind_name(DatasetKind kind);

struct Sample {
  std::string path;  // the image file; for IDX, the images file
  int64_t label;     // 0..num_classes()-1, after any class subset
  int64_t index;     // position in the full listing (before any subset), or IDX item
};

struct DatasetOptions {
  // Keep only these classes, given by name or label, relabelled 0..k-1 in
  // the order given. Empty: all classes.
  std::vector<std::string> classes;
  int64_t per_class = 0;  // keep at most this many samples per class; 0: all
  // Skip this many of each class's draw first (with per_class > 0): draws
  // per_class_from..per_class_from+per_class-1 of one seeded shuffle, so
  // ranges with the same seed are disjoint splits (train800 / val200).
  int64_t per_class_from = 0;
  int64_t limit = 0;  // then keep at most this many overall; 0: all
  uint64_t seed = 0;  // chooses the per_class/limit subsets
  // IDX labels file; empty: the images file's name with "images-idx3"
  // replaced by "labels-idx1".
  std::string labels;
  // JSON and CSV splits: the folder their image paths are relative to;
  // empty: the split file's own folder.
  std::string root;
  // The classes of another set (a training set's listed_class_names(), a
  // bundle's): this set's labels are matched to them by class name before any
  // subset, so a validation or test list naming its classes in another order
  // gets the training set's numbers. A class this set has and they lack is an
  // error naming the file and line. Empty: this set's own classes.
  std::vector<std::string> class_set;
};

class Dataset {
 public:
  // Lists the samples (images are decoded lazily, except IDX which is read
  // whole). Throws vpet::Error for unreadable or malformed data ("SPEC: no
  // such file or directory", "list.txt:17: …") and vpet::UsageError for bad
  // options (an unknown class, a negative limit).
  explicit Dataset(const std::string& spec, const DatasetOptions& options = {});

  const std::string& spec() const { return spec_; }
  const std::string& path() const { return path_; }
  DatasetKind kind() const { return kind_; }

  size_t size() const { return samples_.size(); }
  const Sample& sample(size_t i) const { return samples_[i]; }
  const std::vector<Sample>& samples() const { return samples_; }
  const std::vector<std::string>& class_names() const { return class_names_; }
  // The classes as listed, before --classes selected and renumbered some.
  const std::vector<std::string>& listed_class_names() const { return listed_class_names_; }
  int64_t num_classes() const { return static_cast<int64_t>(class_names_.size()); }

  // The decoded image of sample i (HWC uint8, 1 or 3 channels). Safe to call
  // from several threads at once. Throws vpet::Error naming the file.
  image::Image image(size_t i) const;

  // For output headers: spec, kind, path, sample count, class names, and
  // the options that chose the subset.
  nlohmann::json describe() const;

 private:
  std::string spec_;
  std::string path_;
  DatasetKind kind_;
  DatasetOptions options_;
  size_t listed_ = 0;  // samples before any subset
  std::vector<Sample> samples_;
  std::vector<std::string> class_names_;
  std::vector<std::string> listed_class_names_;
  std::string labels_path_;               // IDX only
  std::shared_ptr<const IdxImages> idx_;  // IDX only; shared by copies
};

}  // namespace vpet::data
