// List files of `path label` lines, the VTAB-1k layout
// (<task>/{train800,val200,train800val200,test}.txt); labels are class
// numbers, or class names (numbered in first-seen order).
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "vpet/data/listing.h"
#include "vpet/error.h"

namespace fs = std::filesystem;

namespace vpet::data {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

std::string trim(const std::string& s) {
  size_t begin = 0, end = s.size();
  while (begin < end && is_space(s[begin])) ++begin;
  while (end > begin && is_space(s[end - 1])) --end;
  return s.substr(begin, end - begin);
}

}  // namespace

Listing list_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open: " + std::strerror(errno));
  const fs::path base = fs::path(path).parent_path();
  std::vector<ListedEntry> entries;
  std::string raw;
  for (size_t number = 1; std::getline(in, raw); ++number) {
    if (number == 1 && raw.compare(0, 3, "\xEF\xBB\xBF") == 0) raw.erase(0, 3);  // UTF-8 BOM
    const std::string line = trim(raw);  // also drops a CRLF file's '\r'
    if (line.empty() || line[0] == '#') continue;
    const std::string where = path + ":" + std::to_string(number);
    // Split at the last run of whitespace: paths may contain spaces, labels cannot.
    const auto last_space = std::find_if(line.rbegin(), line.rend(), is_space);
    if (last_space == line.rend()) {
      throw Error(where + ": expected 'path label', found '" + line + "'");
    }
    const std::string file = trim(std::string(line.begin(), last_space.base()));
    const fs::path p(file);
    entries.push_back({p.is_absolute() ? file : (base / p).string(),
                       std::string(last_space.base(), line.end()), where});
  }
  if (in.bad()) throw Error(path + ": read error: " + std::strerror(errno));
  if (entries.empty()) throw Error(path + ": no 'path label' lines");
  Listing listing;
  const std::vector<int64_t> classes = assign_classes(entries, /*remap_numbers=*/false, listing);
  for (size_t i = 0; i < entries.size(); ++i) {
    listing.samples.push_back({entries[i].path, classes[i], static_cast<int64_t>(i)});
    listing.origins.push_back(entries[i].where);
  }
  return listing;
}

}  // namespace vpet::data
