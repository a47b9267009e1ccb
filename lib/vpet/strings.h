// Tests on std::string: prefix and suffix (C++17 has neither; C++20's
// starts_with and ends_with replace these), and decimal digits.
#pragma once

#include <algorithm>
#include <string>

namespace vpet {

inline bool starts_with(const std::string& text, const std::string& prefix) {
  return text.size() >= prefix.size() && text.compare(0, prefix.size(), prefix) == 0;
}

inline bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Whether `text` is 1 to `max_length` decimal digits (a count std::stoll
// reads whole and without overflow for max_length up to 18).
inline bool is_digits(const std::string& text, std::size_t max_length) {
  return !text.empty() && text.size() <= max_length &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace vpet
