#include "vpet/image/decode.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "vpet/error.h"
#include "vpet/image/jpeg.h"
#include "vpet/image/png.h"

namespace vpet::image {

namespace {

bool starts_with(const uint8_t* data, size_t size, const uint8_t* magic, size_t magic_size) {
  return size >= magic_size && std::memcmp(data, magic, magic_size) == 0;
}

}  // namespace

Image decode_image(const uint8_t* data, size_t size, const std::string& name) {
  // SOI followed by the first marker's 0xFF; PNG's signature guards against text transfer.
  static const uint8_t kJpeg[] = {0xFF, 0xD8, 0xFF};
  static const uint8_t kPng[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (starts_with(data, size, kJpeg, sizeof kJpeg)) return decode_jpeg(data, size, name);
  if (starts_with(data, size, kPng, sizeof kPng)) return decode_png(data, size, name);
  if (size == 0) throw Error(name + ": empty file, not a JPEG or PNG image");
  throw Error(name + ": not a JPEG or PNG image");
}

Image read_image(const std::string& path) {
  // stdio rather than iostreams: a directory opens fine but fails the read with EISDIR,
  // which iostreams would report as an empty file.
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) throw Error(path + ": cannot open: " + std::strerror(errno));
  std::vector<uint8_t> bytes;
  uint8_t chunk[1 << 16];
  size_t got;
  while ((got = std::fread(chunk, 1, sizeof chunk, file.get())) > 0)
    bytes.insert(bytes.end(), chunk, chunk + got);
  if (std::ferror(file.get())) throw Error(path + ": cannot read: " + std::strerror(errno));
  return decode_image(bytes.data(), bytes.size(), path);
}

}  // namespace vpet::image
