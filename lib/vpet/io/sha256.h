// SHA-256 (FIPS 180-4), incremental. Written from the standard so that vpet
// needs no crypto library; it identifies backbones (the fingerprint an
// adapter bundle is checked against), it is not used for security.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace vpet::io {

class Sha256 {
 public:
  using Digest = std::array<std::uint8_t, 32>;

  Sha256();
  void update(const void* data, std::size_t size);
  void update(std::string_view text) { update(text.data(), text.size()); }
  // Pads and returns the digest. The object is finished afterwards: further
  // update() or digest() calls throw std::logic_error.
  Digest digest();
  // digest() as 64 lowercase hex digits.
  std::string hex_digest();

 private:
  void compress(const std::uint8_t* block);

  std::array<std::uint32_t, 8> state_;
  std::array<std::uint8_t, 64> buffer_{};
  std::size_t buffered_ = 0;
  std::uint64_t total_bytes_ = 0;
  bool finished_ = false;
};

// Lowercase hex of any byte string.
std::string to_hex(const std::uint8_t* data, std::size_t size);

}  // namespace vpet::io
