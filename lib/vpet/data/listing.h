// The three ways of listing a dataset's samples before any subset is taken.
// Internal to vpet::data: Dataset is the public face.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "vpet/data/dataset.h"
#include "vpet/data/idx_file.h"

namespace vpet::data {

struct Listing {
  std::vector<Sample> samples;  // sample i has index i
  std::vector<std::string> class_names;
  std::shared_ptr<const IdxImages> idx;  // IDX only
  // Where sample i was listed ("list.txt:12", "train.json: key 'a.jpg'"),
  // for messages; empty where the path says it (folders, IDX).
  std::vector<std::string> origins;
};

// One listed image: its path and label as written, and where (for messages).
struct ListedEntry {
  std::string path, label, where;
};

// The class of each entry, in entry order, and listing.class_names. Labels
// that are all non-negative integers are class numbers; anything else makes
// every label a class name, numbered in first-seen order. With
// `remap_numbers` the numbers are renumbered 0..K-1 in increasing order, as
// VPT's FGVC loader does (sorted(set(labels))); without, they are used as
// given (K = largest + 1), as list files use them. Throws vpet::Error naming
// the entry for an empty label or a number above 2^18 - 1.
std::vector<std::int64_t> assign_classes(const std::vector<ListedEntry>& entries,
                                         bool remap_numbers, Listing& listing);

// torchvision ImageFolder: classes are the sorted subfolder names; files are
// found recursively in sorted(os.walk()) order.
Listing list_folder(const std::string& root);

// `path label` lines; paths relative to the list file's directory; labels
// are class numbers or names (assign_classes).
Listing list_file(const std::string& path);

// Dataset splits (split_dataset.cpp): VPT's FGVC JSON {"path": label} and
// CSV with a header line; paths relative to `root` (empty: the file's
// folder); each image must exist and appear once. Integer labels in JSON are
// renumbered 0..K-1 in increasing order (VPT's loader), in CSV used as given
// (assign_classes).
Listing list_json(const std::string& path, const std::string& root);
Listing list_csv(const std::string& path, const std::string& root);

// An IDX images file and its labels file.
Listing list_idx(const std::string& images, const std::string& labels);

}  // namespace vpet::data
