// UTF-8 validity, as JSON and terminals need it: the one rule the header
// reader (which refuses a string that is not UTF-8), the header writer and
// the message escaper (which write every byte outside it as \xNN) share.
#pragma once

#include <cstddef>
#include <string>

namespace vpet::io {

// The length (1-4) of the well-formed UTF-8 sequence starting at text[i],
// or 0 where none starts (a stray continuation byte, a truncated, overlong
// or surrogate form, a code point above U+10FFFF). Requires i < text.size().
std::size_t utf8_sequence_length(const std::string& text, std::size_t i);

bool is_utf8(const std::string& text);

// `text` with every byte that starts no well-formed sequence written as
// \xNN, and with `controls` also the control bytes but newline: valid
// UTF-8 (without controls) comes back unchanged.
std::string utf8_escaped(const std::string& text, bool controls = false);

}  // namespace vpet::io
