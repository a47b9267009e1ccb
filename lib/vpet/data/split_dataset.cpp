// Dataset splits as JSON (VPT's FGVC train.json / val.json / test.json:
// {"relative/path.jpg": label, ...}) and CSV (a header line, then
// path,label rows, RFC 4180 quoting). Every image must exist, every path
// appear once; labels are integers or class names (see listing.h).
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "vpet/data/listing.h"
#include "vpet/error.h"

namespace fs = std::filesystem;

namespace vpet::data {
namespace {

Listing to_listing(const std::vector<ListedEntry>& entries, const std::string& root,
                   bool remap_numbers, const std::string& source) {
  if (entries.empty()) throw Error(source + ": lists no images");
  Listing listing;
  const std::vector<std::int64_t> classes = assign_classes(entries, remap_numbers, listing);
  std::set<std::string> seen;
  for (const ListedEntry& e : entries) {
    if (!seen.insert(e.path).second) throw Error(e.where + ": '" + e.path + "' is listed twice");
    const fs::path p(e.path);
    const std::string resolved = p.is_absolute() ? e.path : (fs::path(root) / p).string();
    std::error_code ec;
    if (!fs::is_regular_file(resolved, ec)) {
      throw Error(e.where + ": no such image: " + resolved);
    }
    const std::int64_t index = std::int64_t(listing.samples.size());
    listing.samples.push_back({resolved, classes[std::size_t(index)], index});
    listing.origins.push_back(e.where);
  }
  return listing;
}

// The top-level object of a JSON split, read with nlohmann's SAX interface
// so that keys keep their order, a duplicate is seen, and nothing but
// "path": label pairs is accepted.
class SplitReader : public nlohmann::json::json_sax_t {
 public:
  explicit SplitReader(std::string source) : source_(std::move(source)) {}

  std::vector<ListedEntry> entries;

  bool null() override { return value("null"); }
  bool boolean(bool) override { return value("a boolean"); }
  bool number_integer(number_integer_t v) override {
    return v < 0 ? value("a negative number") : label(std::to_string(v));
  }
  bool number_unsigned(number_unsigned_t v) override { return label(std::to_string(v)); }
  bool number_float(number_float_t, const string_t&) override { return value("a fraction"); }
  bool string(string_t& s) override { return label(s); }
  bool binary(binary_t&) override { return value("binary data"); }
  bool start_object(std::size_t) override {
    if (depth_++ == 0) return true;
    return value("an object");
  }
  bool key(string_t& k) override {
    key_ = k;
    return true;
  }
  bool end_object() override {
    --depth_;
    return true;
  }
  bool start_array(std::size_t) override {
    if (depth_ == 0) fail("the top level is an array; a split is an object {\"path\": label}");
    return value("an array");
  }
  bool end_array() override { return true; }
  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception& e) override {
    // nlohmann's message after its "[json.exception...]" prefix.
    std::string what = e.what();
    const std::size_t at = what.find("] ");
    fail("not valid JSON at byte " + std::to_string(position) + ": " +
         (at == std::string::npos ? what : what.substr(at + 2)));
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { throw Error(source_ + ": " + what); }
  bool value(const char* kind) {
    if (depth_ == 0) fail("the top level is " + std::string(kind) + ", not an object");
    fail("key '" + key_ + "': the label is " + kind + ", not a class number or name");
  }
  bool label(const std::string& text) {
    if (depth_ != 1) return value("a value outside the object");
    entries.push_back({key_, text, source_ + ": key '" + key_ + "'"});
    return true;
  }

  std::string source_;
  std::string key_;
  int depth_ = 0;
};

// One CSV field at `at` (RFC 4180: quotes around a field, "" inside one).
std::string csv_field(const std::string& line, std::size_t& at, const std::string& where) {
  std::string field;
  if (at < line.size() && line[at] == '"') {
    for (++at;; ++at) {
      if (at >= line.size()) throw Error(where + ": a quoted field does not end");
      if (line[at] == '"') {
        if (at + 1 < line.size() && line[at + 1] == '"') {
          field += '"';
          ++at;
          continue;
        }
        ++at;
        break;
      }
      field += line[at];
    }
    if (at < line.size() && line[at] != ',') throw Error(where + ": text after a quoted field");
  } else {
    const std::size_t comma = line.find(',', at);
    field = line.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    if (field.find('"') != std::string::npos) throw Error(where + ": a quote inside a field");
    at = comma == std::string::npos ? line.size() : comma;
  }
  return field;
}

std::vector<std::string> csv_row(const std::string& line, const std::string& where) {
  std::vector<std::string> fields;
  std::size_t at = 0;
  for (;;) {
    fields.push_back(csv_field(line, at, where));
    if (at >= line.size()) return fields;
    ++at;  // the comma
    if (at == line.size()) {
      fields.push_back("");
      return fields;
    }
  }
}

std::string root_of(const std::string& path, const std::string& root) {
  return root.empty() ? fs::path(path).parent_path().string() : root;
}

}  // namespace

Listing list_json(const std::string& path, const std::string& root) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open: " + std::strerror(errno));
  SplitReader reader(path);
  nlohmann::json::sax_parse(in, &reader);
  return to_listing(reader.entries, root_of(path, root), /*remap_numbers=*/true, path);
}

Listing list_csv(const std::string& path, const std::string& root) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open: " + std::strerror(errno));
  std::vector<ListedEntry> entries;
  std::string line;
  std::size_t path_column = 0, label_column = 1, columns = 0;
  for (std::size_t number = 1; std::getline(in, line); ++number) {
    if (number == 1 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);  // UTF-8 BOM
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::string where = path + ":" + std::to_string(number);
    if (line.empty()) continue;
    const std::vector<std::string> fields = csv_row(line, where);
    if (columns == 0) {
      // The header: columns named path and label, else the first two.
      columns = fields.size();
      if (columns < 2) throw Error(where + ": the header needs two columns, path and label");
      for (std::size_t i = 0; i < fields.size(); ++i) {
        if (fields[i] == "path") path_column = i;
        if (fields[i] == "label") label_column = i;
      }
      continue;
    }
    if (fields.size() != columns) {
      throw Error(where + ": " + std::to_string(fields.size()) + " fields, but the header has " +
                  std::to_string(columns));
    }
    if (fields[path_column].empty()) throw Error(where + ": empty path");
    entries.push_back({fields[path_column], fields[label_column], where});
  }
  if (in.bad()) throw Error(path + ": read error: " + std::strerror(errno));
  return to_listing(entries, root_of(path, root), /*remap_numbers=*/false, path);
}

}  // namespace vpet::data
