// List files of `path label` lines, the VTAB-1k layout
// (<task>/{train800,val200,train800val200,test}.txt).
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

// Labels become a vector of class names, so an absurd label must not turn
// into an absurd allocation.
constexpr int64_t kMaxLabel = (int64_t{1} << 24) - 1;

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
  Listing listing;
  int64_t max_label = -1;
  std::string raw;
  for (size_t number = 1; std::getline(in, raw); ++number) {
    if (number == 1 && raw.compare(0, 3, "\xEF\xBB\xBF") == 0) raw.erase(0, 3);  // UTF-8 BOM
    const std::string line = trim(raw);  // also drops a CRLF file's '\r'
    if (line.empty() || line[0] == '#') continue;
    const std::string where = path + ":" + std::to_string(number) + ": ";
    // Split at the last run of whitespace: paths may contain spaces, labels cannot.
    const auto last_space = std::find_if(line.rbegin(), line.rend(), is_space);
    if (last_space == line.rend()) {
      throw Error(where + "expected 'path label', found '" + line + "'");
    }
    const std::string file = trim(std::string(line.begin(), last_space.base()));
    const std::string label_text(last_space.base(), line.end());
    const bool digits = std::all_of(label_text.begin(), label_text.end(),
                                    [](char c) { return c >= '0' && c <= '9'; });
    if (!digits) {
      throw Error(where + "label '" + label_text + "' is not a non-negative integer");
    }
    int64_t label = 0;
    for (char c : label_text) {
      label = label * 10 + (c - '0');
      if (label > kMaxLabel) {
        throw Error(where + "label '" + label_text + "' is too large (at most " +
                    std::to_string(kMaxLabel) + ")");
      }
    }
    const fs::path p(file);
    const std::string resolved = p.is_absolute() ? file : (base / p).string();
    const int64_t index = static_cast<int64_t>(listing.samples.size());
    listing.samples.push_back({resolved, label, index});
    max_label = std::max(max_label, label);
  }
  if (in.bad()) throw Error(path + ": read error: " + std::strerror(errno));
  if (listing.samples.empty()) throw Error(path + ": no 'path label' lines");
  for (int64_t k = 0; k <= max_label; ++k) listing.class_names.push_back(std::to_string(k));
  return listing;
}

}  // namespace vpet::data
