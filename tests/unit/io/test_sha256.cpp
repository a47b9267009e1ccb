// SHA-256 against the FIPS 180-4 / NIST example vectors, and against
// Python's hashlib around the padding boundaries (55/56/64 bytes, where the
// length field moves into a second block).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "vpet/io/sha256.h"

namespace {

using vpet::io::Sha256;

std::string sha256_hex(const std::string& text) {
  Sha256 h;
  h.update(text);
  return h.hex_digest();
}

TEST(Sha256, NistVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(
      sha256_hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklm"
                 "nopqklmnopqrlmnopqrsmnopqrstnopqrstu"),
      "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

TEST(Sha256, MillionA) {
  Sha256 h;
  const std::string chunk(1000, 'a');
  for (int i = 0; i < 1000; ++i) h.update(chunk);
  EXPECT_EQ(h.hex_digest(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, PaddingBoundariesAgreeWithHashlib) {
  const std::vector<std::pair<int, std::string>> expected = {
      {55, "463eb28e72f82e0a96c0a4cc53690c571281131f672aa229e0d45ae59b598b59"},
      {56, "da2ae4d6b36748f2a318f23e7ab1dfdf45acdc9d049bd80e59de82a60895f562"},
      {63, "29af2686fd53374a36b0846694cc342177e428d1647515f078784d69cdb9e488"},
      {64, "fdeab9acf3710362bd2658cdc9a29e8f9c757fcf9811603a8c447cd1d9151108"},
      {65, "4bfd2c8b6f1eec7a2afeb48b934ee4b2694182027e6d0fc075074f2fabb31781"},
      {119, "da18797ed7c3a777f0847f429724a2d8cd5138e6ed2895c3fa1a6d39d18f7ec6"},
      {120, "f52b23db1fbb6ded89ef42a23ce0c8922c45f25c50b568a93bf1c075420bbb7c"},
  };
  for (const auto& [n, hex] : expected) {
    std::string data;
    for (int i = 0; i < n; ++i) data.push_back(char(i % 251));
    EXPECT_EQ(sha256_hex(data), hex) << n << " bytes";
  }
}

TEST(Sha256, ChunkingDoesNotMatter) {
  std::string data;
  for (int i = 0; i < 1000; ++i) data.push_back(char((i * 7) % 256));
  const std::string whole = sha256_hex(data);
  for (std::size_t step : {1, 3, 63, 64, 65, 200}) {
    Sha256 h;
    for (std::size_t at = 0; at < data.size(); at += step) {
      h.update(data.data() + at, std::min(step, data.size() - at));
    }
    EXPECT_EQ(h.hex_digest(), whole) << "chunks of " << step;
  }
}

TEST(Sha256, FinishedObjectRefusesMore) {
  Sha256 h;
  h.update("abc");
  h.digest();
  EXPECT_THROW(h.update("x"), std::logic_error);
  EXPECT_THROW(h.digest(), std::logic_error);
}

}  // namespace
