// MNIST-style IDX files (http://yann.lecun.com/exdb/mnist/): a big-endian
// header (magic 0x0000 08 <ndims>, then ndims u32 sizes) and u8 data.
// Plain or gzip-compressed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vpet::data {

struct IdxImages {
  int64_t count = 0;
  int rows = 0;
  int cols = 0;
  std::vector<uint8_t> pixels;  // count × rows × cols, row-major
};

// Reads an images file (magic 0x00000803). Throws vpet::Error naming the file
// for a bad magic, zero sizes, or a length that disagrees with the header
// (giving the byte offset where the data should end).
IdxImages read_idx_images(const std::string& path);

// Reads a labels file (magic 0x00000801), one u8 label per item.
std::vector<uint8_t> read_idx_labels(const std::string& path);

}  // namespace vpet::data
