#include "vpet/io/output_set.h"

#include <limits.h>
#include <stdlib.h>

#include "vpet/error.h"

namespace vpet::io {
namespace {

// The absolute name a path that does not exist yet will have: its directory
// resolved (symlinks, "..") plus its own name; "" when the directory does not
// exist either (the open fails then anyway).
std::string canonical_new_path(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path.substr(0, slash);
  const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  char resolved[PATH_MAX];
  if (!realpath(dir.c_str(), resolved)) return "";
  return std::string(resolved) + "/" + name;
}

bool same_file(const OutputTarget& a, const std::string& canonical_a, const OutputTarget& b,
               const std::string& canonical_b) {
  if (a.exists && b.exists) {
    // Everything written to /dev/null goes nowhere, so it may be named twice.
    if (a.is_character_device && b.is_character_device) return false;
    return a.device == b.device && a.inode == b.inode;
  }
  if (a.exists || b.exists) return false;
  return !canonical_a.empty() && canonical_a == canonical_b;
}

}  // namespace

OutputSet::Entry& OutputSet::add(const std::string& option, const std::string& path) {
  Entry entry;
  entry.option = option;
  entry.target = resolve_output(path);
  if (!entry.target.exists) entry.canonical = canonical_new_path(entry.target.target);
  for (const Entry& other : entries_) {
    if (same_file(entry.target, entry.canonical, other.target, other.canonical)) {
      throw UsageError(option + " and " + other.option + " name the same file" +
                       (path == other.target.path
                            ? " '" + path + "'"
                            : " ('" + path + "', '" + other.target.path + "')") +
                       "; give each its own");
    }
  }
  entries_.push_back(std::move(entry));
  return entries_.back();
}

AtomicOutput& OutputSet::open(const std::string& option, const std::string& path, bool binary) {
  Entry& entry = add(option, path);
  try {
    entry.output = std::make_unique<AtomicOutput>(path, binary);
  } catch (...) {
    entries_.pop_back();
    throw;
  }
  return *entry.output;
}

void OutputSet::check(const std::string& option, const std::string& path) {
  add(option, path);
  try {
    check_output_writable(path);
  } catch (...) {
    entries_.pop_back();
    throw;
  }
}

void OutputSet::commit() {
  for (Entry& entry : entries_) {
    if (entry.output) entry.output->finish();
  }
  for (Entry& entry : entries_) {
    if (entry.output) entry.output->commit();
  }
}

}  // namespace vpet::io
