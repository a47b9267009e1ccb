#include "vpet/data/idx_file.h"

#include <cstdio>

#include "vpet/data/gzip_file.h"
#include "vpet/error.h"

namespace vpet::data {
namespace {

constexpr uint32_t kImagesMagic = 0x00000803;  // u8, 3 dimensions
constexpr uint32_t kLabelsMagic = 0x00000801;  // u8, 1 dimension

uint32_t big_endian_u32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}

std::string hex(uint32_t value) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%08x", value);
  return text;
}

// Checks the magic and the length, returning the dimension sizes; the data
// starts right after them.
std::vector<uint32_t> parse_header(const std::string& path, const std::vector<uint8_t>& bytes,
                                   uint32_t magic, const char* what) {
  const size_t ndims = magic & 0xff;
  const size_t header = 4 + 4 * ndims;
  if (bytes.size() < 4) {
    throw Error(path + ": not an IDX file: " + std::to_string(bytes.size()) + " bytes, " +
                "too short for the magic number");
  }
  const uint32_t found = big_endian_u32(bytes.data());
  if (found != magic) {
    throw Error(path + ": bad IDX magic " + hex(found) + " at byte offset 0 (expected " +
                hex(magic) + ", an IDX " + what + " file)");
  }
  if (bytes.size() < header) {
    throw Error(path + ": truncated IDX header: " + std::to_string(bytes.size()) +
                " bytes, the header needs " + std::to_string(header));
  }
  std::vector<uint32_t> dims;
  uint64_t items = 1;
  for (size_t d = 0; d < ndims; ++d) {
    dims.push_back(big_endian_u32(bytes.data() + 4 + 4 * d));
    if (dims.back() == 0) {
      throw Error(path + ": IDX dimension " + std::to_string(d) + " (byte offset " +
                  std::to_string(4 + 4 * d) + ") is zero");
    }
    items *= dims.back();
  }
  const uint64_t expected = header + items;
  if (bytes.size() < expected) {
    throw Error(path + ": truncated IDX data: the header promises " + std::to_string(items) +
                " bytes ending at byte offset " + std::to_string(expected) +
                ", the data ends at byte offset " + std::to_string(bytes.size()));
  }
  if (bytes.size() > expected) {
    throw Error(path + ": " + std::to_string(bytes.size() - expected) +
                " unexpected bytes after the IDX data, from byte offset " +
                std::to_string(expected));
  }
  return dims;
}

}  // namespace

IdxImages read_idx_images(const std::string& path) {
  std::vector<uint8_t> bytes = read_maybe_gzip(path);
  const std::vector<uint32_t> dims = parse_header(path, bytes, kImagesMagic, "images");
  if (dims[1] > 1u << 16 || dims[2] > 1u << 16) {
    throw Error(path + ": implausible IDX image size " + std::to_string(dims[1]) + "x" +
                std::to_string(dims[2]));
  }
  IdxImages images;
  images.count = dims[0];
  images.rows = static_cast<int>(dims[1]);
  images.cols = static_cast<int>(dims[2]);
  bytes.erase(bytes.begin(), bytes.begin() + 16);
  images.pixels = std::move(bytes);
  return images;
}

std::vector<uint8_t> read_idx_labels(const std::string& path) {
  std::vector<uint8_t> bytes = read_maybe_gzip(path);
  parse_header(path, bytes, kLabelsMagic, "labels");
  bytes.erase(bytes.begin(), bytes.begin() + 8);
  return bytes;
}

}  // namespace vpet::data
