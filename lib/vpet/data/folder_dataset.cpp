// A folder of class subfolders, listed exactly as torchvision's ImageFolder
// does so that sample order (and with it seeded subsets and per-sample
// outputs) matches a PyTorch pipeline over the same folder.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <set>
#include <system_error>

#include "vpet/data/listing.h"
#include "vpet/error.h"

namespace fs = std::filesystem;

namespace vpet::data {
namespace {

bool has_image_extension(const std::string& name) {
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const char* ext : {".jpg", ".jpeg", ".png"}) {
    const std::string e = ext;
    if (lower.size() >= e.size() && lower.compare(lower.size() - e.size(), e.size(), e) == 0) {
      return true;
    }
  }
  return false;
}

// Splits a directory's entries into subdirectories and other names, following
// symlinks (os.walk(followlinks=True) and os.scandir().is_dir() both do).
void read_directory(const std::string& dir, std::vector<std::string>* subdirs,
                    std::vector<std::string>* files) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec), end;
  if (ec) throw Error(dir + ": cannot read directory: " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) throw Error(dir + ": cannot read directory: " + ec.message());
    std::error_code type_ec;
    const bool is_dir = it->is_directory(type_ec);  // false for a broken symlink
    const std::string name = it->path().filename().string();
    if (is_dir) {
      subdirs->push_back(name);
    } else if (files) {
      files->push_back(name);
    }
  }
  if (ec) throw Error(dir + ": cannot read directory: " + ec.message());
}

std::string join(const std::string& dir, const std::string& name) {
  return (fs::path(dir) / name).string();
}

// Every directory under `top` (itself included), following symlinks but
// visiting each real directory once so that a link cycle cannot loop.
void collect_directories(const std::string& top, std::set<fs::path>* seen,
                         std::vector<std::string>* out) {
  std::error_code ec;
  const fs::path real = fs::canonical(top, ec);
  if (!ec && !seen->insert(real).second) return;
  out->push_back(top);
  std::vector<std::string> subdirs;
  read_directory(top, &subdirs, nullptr);
  for (const std::string& name : subdirs) collect_directories(join(top, name), seen, out);
}

}  // namespace

Listing list_folder(const std::string& root) {
  Listing listing;
  std::vector<std::string> ignored;
  read_directory(root, &listing.class_names, &ignored);
  std::sort(listing.class_names.begin(), listing.class_names.end());
  if (listing.class_names.empty()) {
    throw Error(root + ": no class subfolders (expected " + join(root, "<class>/<image>") + ")");
  }
  for (size_t label = 0; label < listing.class_names.size(); ++label) {
    const std::string class_dir = join(root, listing.class_names[label]);
    std::set<fs::path> seen;
    std::vector<std::string> dirs;
    collect_directories(class_dir, &seen, &dirs);
    // sorted(os.walk()) orders directories by their whole path string, so
    // "a/b-c" comes between "a/b" and "a/b/x"; std::string compares bytes as unsigned,
    // which for UTF-8 is Python's code point order.
    std::sort(dirs.begin(), dirs.end());
    const size_t before = listing.samples.size();
    for (const std::string& dir : dirs) {
      std::vector<std::string> subdirs, files;
      read_directory(dir, &subdirs, &files);
      std::sort(files.begin(), files.end());
      for (const std::string& name : files) {
        if (!has_image_extension(name)) continue;
        const int64_t index = static_cast<int64_t>(listing.samples.size());
        listing.samples.push_back({join(dir, name), static_cast<int64_t>(label), index});
      }
    }
    if (listing.samples.size() == before) {
      throw Error(class_dir + ": class folder has no images (.jpg, .jpeg, .png)");
    }
  }
  return listing;
}

}  // namespace vpet::data
