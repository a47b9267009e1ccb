// .npy headers are validated as strictly as safetensors headers: numpy's own
// files read back exactly (the .npz parity files of tests/fixtures come from
// numpy itself), and anything else is refused by name before allocating.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "vpet/error.h"
#include "vpet/io/npy.h"
#include "vpet/io/npz.h"

#include "../fixture_paths.h"

namespace vpet::io {
namespace {

// A .npy file as numpy writes it: magic, version, header length, the dict
// padded with spaces and a newline to a multiple of 64 bytes, the data.
std::string npy(const std::string& dict, const std::string& data, int major = 1) {
  const std::size_t prefix = 8 + (major == 1 ? 2 : 4);
  std::string header = dict;
  while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out = std::string("\x93NUMPY", 6) + char(major) + char(0);
  const std::uint32_t n = static_cast<std::uint32_t>(header.size());
  for (std::size_t i = 0; i < prefix - 8; ++i) out += char((n >> (8 * i)) & 0xff);
  return out + header + data;
}

torch::Tensor decode(const std::string& bytes) {
  return decode_npy(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), "t.npy");
}

std::string error_of(const std::string& bytes) {
  try {
    decode(bytes);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

std::string floats(std::initializer_list<float> values) {
  std::string out(values.size() * 4, '\0');
  std::memcpy(out.data(), values.begin(), out.size());
  return out;
}

TEST(Npy, ReadsWhatNumpyWrites) {
  const torch::Tensor t = decode(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                                     floats({0, 1, 2, 3, 4, 5})));
  EXPECT_TRUE(torch::equal(t, torch::arange(6, torch::kFloat32).reshape({2, 3})));
  // Version 2 (a u32 header length), a 0-d array, an empty one.
  EXPECT_EQ(decode(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", floats({7}), 2))
                .item<float>(),
            7.0f);
  EXPECT_EQ(decode(npy("{'descr': '<i8', 'fortran_order': False, 'shape': (0, 4), }", "")).sizes(),
            torch::IntArrayRef({0, 4}));
}

TEST(Npy, FortranOrderAndBigEndianAreConverted) {
  // Column-major [[0, 1, 2], [3, 4, 5]] is stored 0 3 1 4 2 5.
  const torch::Tensor f = decode(npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
                                     floats({0, 3, 1, 4, 2, 5})));
  EXPECT_TRUE(torch::equal(f, torch::arange(6, torch::kFloat32).reshape({2, 3})));
  std::string big = floats({1.5f});
  std::swap(big[0], big[3]);
  std::swap(big[1], big[2]);
  EXPECT_EQ(
      decode(npy("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", big)).item<float>(),
      1.5f);
}

TEST(Npy, BadHeadersAreRefusedByName) {
  const std::string good_data = floats({0, 1});
  struct Bad {
    std::string bytes;
    std::string says;
  };
  const Bad cases[] = {
      {"not numpy at all", "no \\x93NUMPY magic"},
      {npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", good_data, 9),
       "format version 9"},
      {npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", good_data), "needs 12"},
      {npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", good_data),
       "unexpected key 'x'"},
      {npy("{'descr': '<f4', 'shape': (2,), }", good_data), "needs 'descr', 'fortran_order'"},
      {npy("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", good_data),
       "given twice"},
      {npy("{'descr': __import__('os'), 'fortran_order': False, 'shape': (2,)}", good_data),
       "expected a string"},
      {npy("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", good_data),
       "unsupported tensor dtype '<c8'"},
      {npy("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", good_data),
       "unsupported tensor dtype '|O'"},
      {npy("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }",
           good_data),
       "too large"},
      {npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 8), }",
           good_data),
       "too large"},
      {npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", good_data).substr(0, 12),
       "header claims"},
  };
  for (const Bad& bad : cases) {
    const std::string message = error_of(bad.bytes);
    EXPECT_NE(message.find("t.npy"), std::string::npos) << message;
    EXPECT_NE(message.find(bad.says), std::string::npos) << message << " / " << bad.says;
  }
  // A header length over numpy's own 10000-byte limit.
  std::string huge = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", good_data);
  huge[8] = '\xff';
  huge[9] = '\xff';
  EXPECT_NE(error_of(huge).find("exceeds the 10000 bytes"), std::string::npos) << error_of(huge);
}

TEST(Npz, ReadsNumpysArchivesStoredAndDeflated) {
  for (const char* file : {"a_jax.npz", "a_jax_prelogits.npz"}) {
    const std::string path = vpet::test::kVit + file;
    EXPECT_TRUE(is_zip_file(path));
    const TensorMap map = read_npz(path);
    const torch::Tensor* kernel = map.find("embedding/kernel");
    ASSERT_NE(kernel, nullptr) << file;
    EXPECT_EQ(kernel->sizes(), torch::IntArrayRef({8, 8, 3, 48})) << file;
  }
  EXPECT_FALSE(is_zip_file(vpet::test::kVit + "a_timm.safetensors"));
  EXPECT_THROW(read_npz(vpet::test::kVit + "a_timm.safetensors"), Error);
}

}  // namespace
}  // namespace vpet::io
