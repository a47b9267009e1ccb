// Dataset specs folder:DIR. The input is a tree, one path a line (a line
// ending in '/' is a folder, any other an empty file), made in a fresh
// folder that is then listed as torchvision's ImageFolder would.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "fuzz/fuzz.h"
#include "vpet/data/dataset.h"

namespace fs = std::filesystem;

namespace folder_target {

// Makes `line` under `root`; false for a path that would leave it.
bool make_entry(const fs::path& root, const std::string& line) {
  const fs::path relative = fs::path(line).relative_path();
  for (const fs::path& part : relative) {
    if (part == ".." || part == ".") return false;
  }
  std::error_code ec;
  const fs::path full = root / relative;
  if (line.back() == '/') {
    fs::create_directories(full, ec);
  } else {
    fs::create_directories(full.parent_path(), ec);
    std::ofstream(full).put('\0');
  }
  return true;
}

}  // namespace folder_target

VPET_FUZZ_TARGET(folder) {
  if (size > 4096) return 0;
  std::string pattern = (fs::temp_directory_path() / "vpet-fuzz-folder-XXXXXX").string();
  if (!mkdtemp(pattern.data())) return 0;
  const fs::path root = pattern;
  std::istringstream lines(std::string(reinterpret_cast<const char*>(data), size));
  std::string line;
  int entries = 0;
  while (std::getline(lines, line) && entries < 64) {
    if (line.empty() || line.size() > 200 || line.find('\0') != std::string::npos) continue;
    entries += folder_target::make_entry(root, line);
  }
  vpet::fuzz::expect_clean_failure([&] { (void)vpet::data::Dataset("folder:" + pattern); });
  std::error_code ec;
  fs::remove_all(root, ec);
  return 0;
}
