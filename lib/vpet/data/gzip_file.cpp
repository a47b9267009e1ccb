#include "vpet/data/gzip_file.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "vpet/error.h"

namespace vpet::data {
namespace {

std::vector<uint8_t> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open: " + std::strerror(errno));
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  if (in.bad()) throw Error(path + ": read error: " + std::strerror(errno));
  return bytes;
}

bool is_gzip(const std::vector<uint8_t>& bytes) {
  return bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b;
}

std::vector<uint8_t> gunzip(const std::string& path, const std::vector<uint8_t>& in) {
  // The trailer's ISIZE (uncompressed size mod 2^32) is only a hint: it is
  // wrong for members over 4 GiB and for concatenated members.
  // Deflate cannot expand more than ~1032:1, which bounds a hostile ISIZE.
  const size_t n = in.size();
  size_t guess = size_t{1} << 16;
  if (n >= 4) {
    const uint32_t isize = uint32_t(in[n - 4]) | uint32_t(in[n - 3]) << 8 |
                           uint32_t(in[n - 2]) << 16 | uint32_t(in[n - 1]) << 24;
    guess = std::max<size_t>(guess, std::min<size_t>(isize, n * 1032));
  }
  std::vector<uint8_t> out(guess);
  z_stream z{};
  // 16 + MAX_WBITS: gzip wrapper only, so a zlib- or raw-deflate file is refused.
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) throw Error(path + ": cannot start gzip decoder");
  size_t consumed = 0;
  size_t produced = 0;
  for (;;) {
    // zlib's counters are uInt; feed and drain in chunks so files over 4 GiB work.
    const size_t in_chunk = std::min<size_t>(in.size() - consumed, 1u << 30);
    z.next_in = const_cast<Bytef*>(in.data() + consumed);
    z.avail_in = static_cast<uInt>(in_chunk);
    if (produced == out.size()) out.resize(out.size() * 2);
    const size_t out_chunk = std::min<size_t>(out.size() - produced, 1u << 30);
    z.next_out = out.data() + produced;
    z.avail_out = static_cast<uInt>(out_chunk);
    const int rc = inflate(&z, Z_NO_FLUSH);
    consumed += in_chunk - z.avail_in;
    produced += out_chunk - z.avail_out;
    if (rc == Z_STREAM_END) {
      if (consumed == in.size()) break;
      inflateReset(&z);  // another gzip member follows
      continue;
    }
    if (rc == Z_OK) continue;
    if (rc == Z_BUF_ERROR && consumed == in.size()) {
      inflateEnd(&z);
      throw Error(path + ": truncated gzip stream: input ends at byte offset " +
                  std::to_string(consumed) + " (" + std::to_string(produced) +
                  " bytes decompressed); re-download or gunzip -t the file");
    }
    const std::string message = z.msg ? z.msg : "error " + std::to_string(rc);
    inflateEnd(&z);
    throw Error(path + ": corrupt gzip data near byte offset " + std::to_string(consumed) + ": " +
                message);
  }
  inflateEnd(&z);
  out.resize(produced);
  return out;
}

}  // namespace

std::vector<uint8_t> read_maybe_gzip(const std::string& path) {
  std::vector<uint8_t> bytes = read_all(path);
  return is_gzip(bytes) ? gunzip(path, bytes) : bytes;
}

}  // namespace vpet::data
