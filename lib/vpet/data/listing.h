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
};

// torchvision ImageFolder: classes are the sorted subfolder names; files are
// found recursively in sorted(os.walk()) order.
Listing list_folder(const std::string& root);

// `path label` lines; paths relative to the list file's directory.
Listing list_file(const std::string& path);

// Dataset splits (split_dataset.cpp): VPT's FGVC JSON {"path": label} and
// CSV with a header line; paths relative to `root` (empty: the file's
// folder); each image must exist and appear once. Integer labels in JSON are
// renumbered 0..K-1 in increasing order (VPT's loader), in CSV used as given;
// any other label makes every label a class name, in first-seen order.
Listing list_json(const std::string& path, const std::string& root);
Listing list_csv(const std::string& path, const std::string& root);

// An IDX images file and its labels file.
Listing list_idx(const std::string& images, const std::string& labels);

}  // namespace vpet::data
