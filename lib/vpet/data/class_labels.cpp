// Labels as listed (list files, JSON and CSV splits) to class numbers.
#include <map>
#include <set>

#include "vpet/data/listing.h"
#include "vpet/error.h"

namespace vpet::data {

std::vector<std::int64_t> assign_classes(const std::vector<ListedEntry>& entries,
                                         bool remap_numbers, Listing& listing) {
  // Labels become a vector of class names, so an absurd label must not turn
  // into an absurd allocation (ImageNet-21k has 21843 classes).
  constexpr long long kMaxLabel = (1LL << 18) - 1;
  const auto is_number = [](const std::string& s) {
    return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
  };
  // Numbers and names together are a typo more often than a naming scheme:
  // a list with one bad label must not quietly become a list of names.
  const ListedEntry* first_number = nullptr;
  const ListedEntry* first_name = nullptr;
  for (const ListedEntry& e : entries) {
    const ListedEntry*& first = is_number(e.label) ? first_number : first_name;
    if (!first) first = &e;
  }
  if (first_number && first_name) {
    throw Error(first_name->where + ": label '" + first_name->label + "' is a class name, but " +
                first_number->where + " gives a class number ('" + first_number->label +
                "'); labels are all numbers or all names");
  }
  const bool numbers = first_number != nullptr;
  std::map<std::string, std::int64_t> ids;  // label text -> class
  if (numbers) {
    std::set<long long> values;
    for (const ListedEntry& e : entries) {
      const long long value = e.label.size() > 7 ? kMaxLabel + 1 : std::stoll(e.label);
      if (value > kMaxLabel) {
        throw Error(e.where + ": label " + e.label + " is too large (at most " +
                    std::to_string(kMaxLabel) + ")");
      }
      values.insert(value);
    }
    if (remap_numbers) {
      for (long long v : values) {
        ids[std::to_string(v)] = std::int64_t(listing.class_names.size());
        listing.class_names.push_back(std::to_string(v));
      }
    } else {
      for (long long k = 0; k <= *values.rbegin(); ++k) {
        ids[std::to_string(k)] = k;
        listing.class_names.push_back(std::to_string(k));
      }
    }
  } else {
    for (const ListedEntry& e : entries) {
      if (ids.count(e.label)) continue;
      if (e.label.empty()) throw Error(e.where + ": empty label");
      ids[e.label] = std::int64_t(listing.class_names.size());
      listing.class_names.push_back(e.label);
    }
  }
  std::vector<std::int64_t> classes;
  classes.reserve(entries.size());
  for (const ListedEntry& e : entries) {
    // Numbers keep their text's value ("007" is class 7).
    classes.push_back(ids.at(numbers ? std::to_string(std::stoll(e.label)) : e.label));
  }
  return classes;
}

}  // namespace vpet::data
