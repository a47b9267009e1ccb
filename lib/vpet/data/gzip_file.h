// Whole-file reading with transparent gzip decompression, for IDX files that
// are distributed both plain and as .gz (MNIST, Fashion-MNIST).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vpet::data {

// The file's bytes, decompressed when it starts with the gzip magic (1f 8b);
// concatenated gzip members are joined as gunzip does. Throws vpet::Error
// naming the file and the compressed byte offset for a truncated or corrupt
// stream, and naming the file for I/O errors.
std::vector<uint8_t> read_maybe_gzip(const std::string& path);

}  // namespace vpet::data
