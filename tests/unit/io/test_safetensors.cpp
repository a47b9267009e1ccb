// The safetensors reader and writer: round trips, a file written by the
// fixture script (Python), and one test per validation the reference Rust
// reader performs.
#include <gtest/gtest.h>

#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "vpet/error.h"
#include "vpet/io/safetensors.h"

namespace {

using vpet::io::TensorMap;

const std::string kFixtures = VPET_FIXTURES;

// A file from a header text and a data buffer; the length prefix is the
// header's unless given.
std::string make_file(const std::string& header, const std::string& buffer = "",
                      long long length = -1) {
  const unsigned long long n = length < 0 ? header.size() : (unsigned long long)length;
  std::string out;
  for (int i = 0; i < 8; ++i) out.push_back(char((n >> (8 * i)) & 0xff));
  return out + header + buffer;
}

TensorMap decode(const std::string& bytes) {
  return vpet::io::decode_safetensors(reinterpret_cast<const std::uint8_t*>(bytes.data()),
                                      bytes.size(), "model.safetensors");
}

// Decoding must fail with a vpet::Error naming the file and containing `part`.
void expect_refused(const std::string& bytes, const std::string& part) {
  try {
    decode(bytes);
    ADD_FAILURE() << "accepted; expected an error containing: " << part;
  } catch (const vpet::Error& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.rfind("model.safetensors: ", 0), 0u) << message;
    EXPECT_NE(message.find(part), std::string::npos) << message;
  }
}

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "vpet_safetensors_" + std::to_string(::getpid()) + "_" + name;
}

TEST(Safetensors, RoundTripEveryDtype) {
  TensorMap map;
  map.add("f32", torch::arange(6, torch::kFloat32).reshape({2, 3}) / 7);
  map.add("f64", torch::tensor({1.5, -2.25}, torch::kFloat64));
  map.add("f16", torch::tensor({0.5f, 3.0f, -1.0f}).to(torch::kFloat16));
  map.add("bf16", torch::tensor({0.5f, 3.0f}).to(torch::kBFloat16));
  map.add("i64", torch::tensor({int64_t(1) << 40, int64_t(-3)}, torch::kInt64));
  map.add("i32", torch::tensor({7, -8}, torch::kInt32));
  map.add("i16", torch::tensor({7, -8}, torch::kInt16));
  map.add("i8", torch::tensor({-128, 127}, torch::kInt8));
  map.add("u8", torch::tensor({0, 255}, torch::kUInt8));
  map.add("bool", torch::tensor({true, false, true}));
  map.add("scalar", torch::tensor(2.5f));
  map.add("empty", torch::zeros({0, 4}));
  map.add("strided", torch::arange(12, torch::kFloat32).reshape({3, 4}).t());
  map.metadata = {{"format", "pt"}, {"num_heads", "3"}};

  const std::string path = temp_path("roundtrip.safetensors");
  vpet::io::write_safetensors(path, map);
  const TensorMap back = vpet::io::read_safetensors(path);
  std::remove(path.c_str());

  EXPECT_EQ(back.metadata, map.metadata);
  ASSERT_EQ(back.tensors.size(), map.tensors.size());
  for (const auto& [name, tensor] : map.tensors) {
    const torch::Tensor* got = back.find(name);
    ASSERT_NE(got, nullptr) << name;
    EXPECT_EQ(got->scalar_type(), tensor.scalar_type()) << name;
    EXPECT_EQ(got->sizes(), tensor.sizes()) << name;
    EXPECT_TRUE(torch::equal(*got, tensor)) << name;
  }
  // The reference order: descending item size, then name.
  std::vector<std::string> order;
  for (const auto& entry : back.tensors) order.push_back(entry.first);
  const std::vector<std::string> expected = {"f64",    "i64",     "empty", "f32", "i32",
                                             "scalar", "strided", "bf16",  "f16", "i16",
                                             "bool",   "i8",      "u8"};
  EXPECT_EQ(order, expected);
}

TEST(Safetensors, HeaderIsSpacePaddedToEightBytes) {
  TensorMap map;
  map.add("a", torch::ones({3}));
  const std::string bytes = vpet::io::encode_safetensors(map);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | std::uint8_t(bytes[std::size_t(i)]);
  EXPECT_EQ(n % 8, 0u);
  EXPECT_EQ(bytes.size(), 8 + n + 12);
  const std::string header = bytes.substr(8, n);
  const auto last = header.find_last_not_of(' ');
  EXPECT_EQ(header[last], '}');
  EXPECT_LT(n - 1 - last, 8u);
  EXPECT_TRUE(torch::equal(decode(bytes).tensors.at(0).second, torch::ones({3})));
}

TEST(Safetensors, ReadsAFileWrittenByPython) {
  const TensorMap map = vpet::io::read_safetensors(kFixtures + "/vit/a_timm.safetensors");
  EXPECT_EQ(map.metadata.at("num_heads"), "3");
  const torch::Tensor* qkv = map.find("blocks.1.attn.qkv.weight");
  ASSERT_NE(qkv, nullptr);
  EXPECT_EQ(qkv->scalar_type(), torch::kFloat16);
  EXPECT_EQ(qkv->sizes(), (std::vector<int64_t>{144, 48}));
  // The same weights stored as F32 by the torchvision layout.
  const TensorMap tv = vpet::io::read_safetensors(kFixtures + "/vit/a_torchvision.safetensors");
  const torch::Tensor* in_proj =
      tv.find("encoder.layers.encoder_layer_1.self_attention.in_proj_weight");
  ASSERT_NE(in_proj, nullptr);
  EXPECT_TRUE(torch::equal(qkv->to(torch::kFloat32), *in_proj));
}

TEST(Safetensors, HeaderAloneMatchesTheFile) {
  const std::string path = kFixtures + "/vit/a_timm.safetensors";
  const auto header = vpet::io::read_safetensors_header(path);
  const TensorMap map = vpet::io::read_safetensors(path);
  ASSERT_EQ(header.entries.size(), map.tensors.size());
  for (std::size_t i = 0; i < header.entries.size(); ++i) {
    EXPECT_EQ(header.entries[i].name, map.tensors[i].first);
    EXPECT_EQ(header.entries[i].shape, map.tensors[i].second.sizes().vec());
    EXPECT_EQ(header.entries[i].dtype, "F16");
  }
  EXPECT_EQ(header.buffer_offset % 8, 0u);
}

TEST(Safetensors, RefusesShortFile) {
  expect_refused("abc", "too short");
}

TEST(Safetensors, RefusesHugeHeaderLength) {
  expect_refused(make_file("{}", "", 100'000'001), "exceeds the 100000000-byte limit");
}

TEST(Safetensors, RefusesHeaderPastEnd) {
  expect_refused(make_file("{}", "", 64), "runs past the end");
}

TEST(Safetensors, RefusesBadJson) {
  expect_refused(make_file("{\"a\": "), "not valid UTF-8 JSON");
}

TEST(Safetensors, RefusesBadUtf8) {
  expect_refused(make_file("{\"\xff\": 1}"), "not valid UTF-8 JSON");
}

TEST(Safetensors, RefusesNonObjectHeader) {
  expect_refused(make_file("[1, 2]  "), "not an object");
}

TEST(Safetensors, RefusesDuplicateTensor) {
  const std::string e = R"({"dtype":"U8","shape":[1],"data_offsets":[0,1]})";
  expect_refused(make_file("{\"w\":" + e + ",\"w\":" + e + "}", "x"), "the key 'w' twice");
}

TEST(Safetensors, RefusesDuplicateFieldInsideEntry) {
  expect_refused(
      make_file(R"({"w":{"dtype":"U8","dtype":"F32","shape":[1],"data_offsets":[0,1]}})", "x"),
      "the key 'dtype' twice");
}

TEST(Safetensors, RefusesMissingField) {
  expect_refused(make_file(R"({"w":{"dtype":"U8","data_offsets":[0,1]}})", "x"),
                 "tensor 'w': header entry has no 'shape'");
}

TEST(Safetensors, RefusesUnsupportedDtypeByName) {
  expect_refused(make_file(R"({"w":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}})", "x"),
                 "tensor 'w': dtype F8_E4M3 not supported");
}

TEST(Safetensors, RefusesUnknownDtype) {
  expect_refused(make_file(R"({"w":{"dtype":"F12","shape":[1],"data_offsets":[0,1]}})", "x"),
                 "unknown dtype 'F12'");
}

TEST(Safetensors, RefusesNegativeDimension) {
  expect_refused(make_file(R"({"w":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}})", "x"),
                 "shape entry must be a non-negative integer");
}

TEST(Safetensors, RefusesElementCountOverflow) {
  expect_refused(
      make_file(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,1]}})",
                "x"),
      "too many elements");
}

TEST(Safetensors, RefusesMalformedOffsets) {
  expect_refused(make_file(R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0]}})", "x"),
                 "data_offsets must be [begin, end]");
  expect_refused(make_file(R"({"w":{"dtype":"U8","shape":[0],"data_offsets":[1,0]}})", "x"),
                 "end before begin");
}

TEST(Safetensors, RefusesSizeMismatchNamingShapeAndDtype) {
  expect_refused(
      make_file(
          R"({"blocks.0.attn.qkv.weight":{"dtype":"F32","shape":[2304,768],"data_offsets":[0,100]}})",
          std::string(100, '\0')),
      "tensor 'blocks.0.attn.qkv.weight': data_offsets [0, 100] hold 100 bytes but shape [2304, "
      "768] "
      "of F32 needs 7077888");
}

TEST(Safetensors, RefusesGap) {
  expect_refused(make_file(R"({"w":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}})", "abcd"),
                 "tensor 'w': data_offsets begin 2 but the previous tensor ends at 0 (gap)");
}

TEST(Safetensors, RefusesOverlap) {
  expect_refused(make_file(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},)"
                           R"("b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}})",
                           "abc"),
                 "tensor 'b': data_offsets begin 1 but the previous tensor ends at 2 (overlap)");
}

TEST(Safetensors, RefusesTrailingBytes) {
  expect_refused(make_file(R"({"w":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})", "abcd"),
                 "tensors end at buffer byte 2 but the data buffer holds 4 bytes");
}

TEST(Safetensors, RefusesTruncatedBuffer) {
  expect_refused(make_file(R"({"w":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})", "ab"),
                 "truncated?");
}

TEST(Safetensors, RefusesNonStringMetadata) {
  expect_refused(make_file(R"({"__metadata__":{"num_heads":12}})"),
                 "__metadata__ value for 'num_heads' is not a string");
  expect_refused(make_file(R"({"__metadata__":["x"]})"), "__metadata__ is not an object");
}

TEST(Safetensors, AcceptsEmptyAndScalarTensors) {
  const TensorMap map = decode(make_file(
      R"({"__metadata__":{"format":"pt"},"e":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]},)"
      R"("s":{"dtype":"U8","shape":[],"data_offsets":[0,1]}}    )",
      "\x07"));
  ASSERT_EQ(map.tensors.size(), 2u);
  EXPECT_EQ(map.find("e")->numel(), 0);
  EXPECT_EQ(map.find("s")->dim(), 0);
  EXPECT_EQ(map.find("s")->item<std::uint8_t>(), 7);
  EXPECT_EQ(map.metadata.at("format"), "pt");
}

TEST(Safetensors, MessagesNameTheFileOnDisk) {
  const std::string path = temp_path("bad.safetensors");
  FILE* f = std::fopen(path.c_str(), "wb");
  std::fputs("short", f);
  std::fclose(f);
  try {
    vpet::io::read_safetensors(path);
    ADD_FAILURE() << "accepted a 5-byte file";
  } catch (const vpet::Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind(path + ": ", 0), 0u) << e.what();
  }
  std::remove(path.c_str());
  EXPECT_THROW(vpet::io::read_safetensors(path), vpet::Error);  // gone: cannot open
}

TEST(Safetensors, WriterRefusesWhatTheFormatCannotHold) {
  TensorMap complex;
  complex.add("c", torch::zeros({2}, torch::kComplexFloat));
  EXPECT_THROW(vpet::io::encode_safetensors(complex), vpet::Error);
  TensorMap reserved;
  reserved.add("__metadata__", torch::zeros({2}));
  EXPECT_THROW(vpet::io::encode_safetensors(reserved), vpet::Error);
  TensorMap map;
  map.add("a", torch::zeros({1}));
  EXPECT_THROW(map.add("a", torch::zeros({1})), std::invalid_argument);
}

}  // namespace
