// Files the data tests build in a temporary directory: tiny PNGs (a minimal
// encoder: stored as one zlib stream, filter 0), IDX files, list files.
#pragma once

#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "vpet/data/dataset.h"
#include "vpet/error.h"

namespace vpet::data::test_files {

namespace fs = std::filesystem;

// A fresh directory removed with everything in it at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "vpet-data-XXXXXX").string();
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp " + pattern + " failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }
  std::string str() const { return path_.string(); }

 private:
  fs::path path_;
};

inline void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

inline void write_text(const std::string& path, const std::string& text) {
  write_bytes(path, std::vector<uint8_t>(text.begin(), text.end()));
}

inline void put_u32(std::vector<uint8_t>* out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<uint8_t>(v >> shift));
}

inline void put_chunk(std::vector<uint8_t>* png, const char* type,
                      const std::vector<uint8_t>& data) {
  put_u32(png, static_cast<uint32_t>(data.size()));
  std::vector<uint8_t> body(type, type + 4);
  body.insert(body.end(), data.begin(), data.end());
  png->insert(png->end(), body.begin(), body.end());
  put_u32(png, static_cast<uint32_t>(crc32(0, body.data(), static_cast<uInt>(body.size()))));
}

// An 8-bit gray (channels 1) or RGB (channels 3) PNG of HWC pixels.
inline std::vector<uint8_t> encode_png(int width, int height, int channels,
                                       const std::vector<uint8_t>& pixels) {
  std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  std::vector<uint8_t> header;
  put_u32(&header, width);
  put_u32(&header, height);
  header.insert(header.end(), {8, static_cast<uint8_t>(channels == 1 ? 0 : 2), 0, 0, 0});
  put_chunk(&png, "IHDR", header);
  std::vector<uint8_t> raw;
  const size_t row = static_cast<size_t>(width) * channels;
  for (int y = 0; y < height; ++y) {
    raw.push_back(0);  // filter type None
    raw.insert(raw.end(), pixels.begin() + y * row, pixels.begin() + (y + 1) * row);
  }
  uLongf size = compressBound(raw.size());
  std::vector<uint8_t> deflated(size);
  compress(deflated.data(), &size, raw.data(), raw.size());
  deflated.resize(size);
  put_chunk(&png, "IDAT", deflated);
  put_chunk(&png, "IEND", {});
  return png;
}

// A width × height image filled with `value` (every channel).
inline void write_png(const std::string& path, int width, int height, int channels, uint8_t value) {
  write_bytes(path, encode_png(width, height, channels,
                               std::vector<uint8_t>(size_t(width) * height * channels, value)));
}

inline std::vector<uint8_t> gzip_bytes(const std::vector<uint8_t>& data) {
  z_stream z{};
  deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::vector<uint8_t> out(deflateBound(&z, data.size()) + 32);
  z.next_in = const_cast<Bytef*>(data.data());
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// IDX bytes: magic 0x0000 08 <dims.size()>, big-endian sizes, then data.
inline std::vector<uint8_t> idx_bytes(const std::vector<uint32_t>& dims,
                                      const std::vector<uint8_t>& data) {
  std::vector<uint8_t> out;
  put_u32(&out, 0x00000800u | static_cast<uint32_t>(dims.size()));
  for (uint32_t d : dims) put_u32(&out, d);
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

// count images of rows × cols where image i is filled with value i % 256
// and has label i % classes; gzip-compressed when `gz`.
inline void write_idx_pair(const std::string& images_path, const std::string& labels_path,
                           uint32_t count, uint32_t rows, uint32_t cols, int classes, bool gz) {
  std::vector<uint8_t> pixels, labels;
  for (uint32_t i = 0; i < count; ++i) {
    pixels.insert(pixels.end(), size_t(rows) * cols, static_cast<uint8_t>(i % 256));
    labels.push_back(static_cast<uint8_t>(i % classes));
  }
  std::vector<uint8_t> images = idx_bytes({count, rows, cols}, pixels);
  std::vector<uint8_t> label_file = idx_bytes({count}, labels);
  write_bytes(images_path, gz ? gzip_bytes(images) : images);
  write_bytes(labels_path, gz ? gzip_bytes(label_file) : label_file);
}

// The message of the vpet::Error that opening `spec` throws, or "(no error)".
inline std::string error_of(const std::string& spec, const DatasetOptions& options = {}) {
  try {
    Dataset dataset(spec, options);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace vpet::data::test_files
