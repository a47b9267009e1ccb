// Prefix and suffix tests on std::string (C++17 has neither; C++20's
// starts_with and ends_with replace these).
#pragma once

#include <string>

namespace vpet {

inline bool starts_with(const std::string& text, const std::string& prefix) {
  return text.size() >= prefix.size() && text.compare(0, prefix.size(), prefix) == 0;
}

inline bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace vpet
