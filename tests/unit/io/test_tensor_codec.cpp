// The msgpack-numpy tensor codec: round trips, the wire layout, the lenient
// decoder (str keys, big-endian, Flax ext 1) and its refusals.
#include <gtest/gtest.h>
#include <cmath>

#include <cstring>
#include <string>
#include <vector>

#include "vpet/error.h"
#include "vpet/io/tensor_codec.h"

namespace vpet::io {
namespace {

torch::Tensor round_trip(const torch::Tensor& tensor) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  pack_tensor(packer, tensor);
  msgpack::object_handle handle = msgpack::unpack(buffer.data(), buffer.size());
  EXPECT_TRUE(is_tensor(handle.get()));
  return decode_tensor(handle.get());
}

void expect_same(const torch::Tensor& got, const torch::Tensor& want) {
  EXPECT_EQ(got.scalar_type(), want.scalar_type());
  EXPECT_EQ(got.sizes(), want.sizes());
  EXPECT_TRUE(got.is_contiguous());
  EXPECT_TRUE(torch::equal(got, want.contiguous())) << got << "\nvs\n" << want;
}

// Packs an arbitrary map in the msgpack-numpy layout, for inputs vpet itself
// never writes (str keys, other byte orders, wrong sizes).
std::string numpy_map(const std::string& type, const std::vector<std::uint64_t>& shape,
                      const std::string& data, bool bin_keys = true, const std::string& kind = "") {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  const auto key = [&](const char* k) {
    const auto n = static_cast<std::uint32_t>(std::strlen(k));
    if (bin_keys) {
      packer.pack_bin(n);
      packer.pack_bin_body(k, n);
    } else {
      packer.pack_str(n);
      packer.pack_str_body(k, n);
    }
  };
  packer.pack_map(5);
  key("nd");
  packer.pack_true();
  key("type");
  packer.pack(type);
  key("kind");
  packer.pack_bin(static_cast<std::uint32_t>(kind.size()));
  packer.pack_bin_body(kind.data(), static_cast<std::uint32_t>(kind.size()));
  key("shape");
  packer.pack(shape);
  key("data");
  packer.pack_bin(static_cast<std::uint32_t>(data.size()));
  packer.pack_bin_body(data.data(), static_cast<std::uint32_t>(data.size()));
  return std::string(buffer.data(), buffer.size());
}

torch::Tensor decode_bytes(const std::string& bytes) {
  msgpack::object_handle handle = msgpack::unpack(bytes.data(), bytes.size());
  return decode_tensor(handle.get());
}

std::string decode_error(const std::string& bytes) {
  try {
    decode_bytes(bytes);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(TensorCodec, RoundTripsEveryDtype) {
  const torch::Tensor base = torch::arange(-6, 6, torch::kFloat64).reshape({3, 4}) * 0.5;
  for (auto dtype : {torch::kFloat32, torch::kFloat16, torch::kBFloat16, torch::kFloat64,
                     torch::kInt64, torch::kInt32}) {
    SCOPED_TRACE(c10::toString(dtype));
    expect_same(round_trip(base.to(dtype)), base.to(dtype));
  }
  const torch::Tensor bytes = torch::arange(0, 256, 17, torch::kInt64).to(torch::kUInt8);
  expect_same(round_trip(bytes), bytes);
  const torch::Tensor mask = torch::tensor({true, false, false, true});
  expect_same(round_trip(mask), mask);
}

TEST(TensorCodec, RoundTripsZeroDimAndEmpty) {
  expect_same(round_trip(torch::tensor(3.25f)), torch::tensor(3.25f));
  EXPECT_EQ(round_trip(torch::tensor(3.25f)).dim(), 0);
  expect_same(round_trip(torch::zeros({0, 3})), torch::zeros({0, 3}));
  expect_same(round_trip(torch::zeros({2, 0}, torch::kInt64)), torch::zeros({2, 0}, torch::kInt64));
}

TEST(TensorCodec, WritesNonContiguousInputInCOrder) {
  const torch::Tensor base = torch::arange(24, torch::kFloat32).reshape({4, 6});
  expect_same(round_trip(base.t()), base.t());
  expect_same(round_trip(base.slice(1, 0, 6, 2)), base.slice(1, 0, 6, 2));
  const torch::Tensor grad = torch::ones({2}, torch::requires_grad());
  expect_same(round_trip(grad), torch::ones({2}));
}

TEST(TensorCodec, UsesBinKeysStrTypeAndEmptyKindLikeMsgpackNumpy) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  pack_tensor(packer, torch::tensor({1.0f, 2.0f}));
  msgpack::object_handle handle = msgpack::unpack(buffer.data(), buffer.size());
  const msgpack::object& map = handle.get();
  ASSERT_EQ(map.type, msgpack::type::MAP);
  ASSERT_EQ(map.via.map.size, 5u);
  const char* keys[] = {"nd", "type", "kind", "shape", "data"};
  for (std::uint32_t i = 0; i < 5; ++i) {
    const msgpack::object& key = map.via.map.ptr[i].key;
    ASSERT_EQ(key.type, msgpack::type::BIN);
    EXPECT_EQ(std::string(key.via.bin.ptr, key.via.bin.size), keys[i]);
  }
  EXPECT_EQ(map.via.map.ptr[1].val.type, msgpack::type::STR);
  EXPECT_EQ(map.via.map.ptr[1].val.as<std::string>(), "<f4");
  EXPECT_EQ(map.via.map.ptr[2].val.type, msgpack::type::BIN);
  EXPECT_EQ(map.via.map.ptr[2].val.via.bin.size, 0u);
}

TEST(TensorCodec, NumpyTypeStrings) {
  EXPECT_EQ(numpy_type_str(torch::kFloat32), "<f4");
  EXPECT_EQ(numpy_type_str(torch::kFloat16), "<f2");
  EXPECT_EQ(numpy_type_str(torch::kFloat64), "<f8");
  EXPECT_EQ(numpy_type_str(torch::kInt64), "<i8");
  EXPECT_EQ(numpy_type_str(torch::kInt32), "<i4");
  EXPECT_EQ(numpy_type_str(torch::kUInt8), "|u1");
  EXPECT_EQ(numpy_type_str(torch::kBool), "|b1");
  EXPECT_EQ(numpy_type_str(torch::kBFloat16), "bfloat16");
  EXPECT_THROW(numpy_type_str(torch::kInt16), Error);
  EXPECT_THROW(round_trip(torch::zeros({2}, torch::kComplexFloat)), Error);
}

TEST(TensorCodec, DecodesBigEndianAndOtherByteOrderMarks) {
  const std::string be_f4("\x3f\x80\x00\x00\xc0\x00\x00\x00", 8);  // 1.0, -2.0
  expect_same(decode_bytes(numpy_map(">f4", {2}, be_f4)), torch::tensor({1.0f, -2.0f}));
  const std::string be_i8("\x00\x00\x00\x00\x00\x00\x01\x02", 8);
  expect_same(decode_bytes(numpy_map(">i8", {1}, be_i8)), torch::tensor({std::int64_t{258}}));
  const std::string le_i4("\x05\x00\x00\x00", 4);
  expect_same(decode_bytes(numpy_map("=i4", {}, le_i4)), torch::tensor(5, torch::kInt32));
  expect_same(decode_bytes(numpy_map("i4", {}, le_i4)), torch::tensor(5, torch::kInt32));
  expect_same(decode_bytes(numpy_map("|u1", {1, 1}, "\x07")),
              torch::full({1, 1}, 7, torch::kUInt8));
}

TEST(TensorCodec, DecodesStrKeys) {
  const std::string data("\x00\x00\x80\x3f", 4);
  expect_same(decode_bytes(numpy_map("<f4", {1}, data, /*bin_keys=*/false)), torch::tensor({1.0f}));
}

TEST(TensorCodec, RefusesBoolBytesOtherThanZeroOne) {
  expect_same(decode_bytes(numpy_map("|b1", {3}, std::string("\x00\x01\x01", 3))),
              torch::tensor({false, true, true}));
  const std::string message = decode_error(numpy_map("|b1", {3}, std::string("\x00\x01\x07", 3)));
  EXPECT_NE(message.find("bool tensor holds the byte 7 at element 2"), std::string::npos)
      << message;
}

TEST(TensorCodec, RefusesNanAndInfinity) {
  for (const float bad : {std::nanf(""), INFINITY, -INFINITY}) {
    const float values[3] = {1.0f, bad, 2.0f};
    const std::string message =
        decode_error(numpy_map("<f4", {3}, std::string(reinterpret_cast<const char*>(values), 12)));
    EXPECT_NE(
        message.find(std::isnan(bad) ? "holds NaN at element 1" : "infinite value at element 1"),
        std::string::npos)
        << message;
  }
}

TEST(TensorCodec, DecodesNumpyScalarAsZeroDim) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  packer.pack_map(3);
  packer.pack_bin(2);
  packer.pack_bin_body("nd", 2);
  packer.pack_false();
  packer.pack_bin(4);
  packer.pack_bin_body("type", 4);
  packer.pack(std::string("<f8"));
  packer.pack_bin(4);
  packer.pack_bin_body("data", 4);
  const double value = 2.5;
  packer.pack_bin(8);
  packer.pack_bin_body(reinterpret_cast<const char*>(&value), 8);
  expect_same(decode_bytes(std::string(buffer.data(), buffer.size())),
              torch::tensor(2.5, torch::kFloat64));
}

std::string flax_ext(const std::vector<std::uint64_t>& shape, const std::string& dtype,
                     const std::string& data, std::int8_t type = 1) {
  msgpack::sbuffer payload;
  msgpack::packer<msgpack::sbuffer> inner(payload);
  inner.pack_array(3);
  inner.pack(shape);
  inner.pack(dtype);
  inner.pack_bin(static_cast<std::uint32_t>(data.size()));
  inner.pack_bin_body(data.data(), static_cast<std::uint32_t>(data.size()));
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  packer.pack_ext(payload.size(), type);
  packer.pack_ext_body(payload.data(), payload.size());
  return std::string(buffer.data(), buffer.size());
}

TEST(TensorCodec, DecodesFlaxExtOne) {
  const torch::Tensor f = torch::arange(6, torch::kFloat32).reshape({2, 3});
  const std::string f_bytes(static_cast<const char*>(f.data_ptr()), 24);
  const std::string f_ext = flax_ext({2, 3}, "float32", f_bytes);
  msgpack::object_handle handle = msgpack::unpack(f_ext.data(), f_ext.size());
  EXPECT_TRUE(is_tensor(handle.get()));
  expect_same(decode_tensor(handle.get()), f);

  const torch::Tensor b = torch::tensor({1.5f, -2.0f}).to(torch::kBFloat16);
  const std::string b_bytes(static_cast<const char*>(b.data_ptr()), 4);
  expect_same(decode_bytes(flax_ext({2}, "bfloat16", b_bytes)), b);
  expect_same(decode_bytes(flax_ext({2}, "int64", std::string(16, '\0'))),
              torch::zeros({2}, torch::kInt64));

  EXPECT_NE(decode_error(flax_ext({2}, "float32", b_bytes, 3)).find("ext type 3"),
            std::string::npos);
  EXPECT_NE(decode_error(flax_ext({2}, "complex64", f_bytes)).find("complex64"), std::string::npos);
}

TEST(TensorCodec, RefusesObjectStructuredAndUnknownDtypes) {
  EXPECT_NE(decode_error(numpy_map("|O", {1}, "xxxxxxxx", true, "O")).find("pickle"),
            std::string::npos);
  EXPECT_NE(decode_error(numpy_map("|V2", {1}, "xx", true, "V")).find("structured"),
            std::string::npos);
  const std::string unknown = decode_error(numpy_map("<i2", {1}, "xx"));
  EXPECT_NE(unknown.find("unsupported tensor dtype '<i2'"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("float32"), std::string::npos) << unknown;
}

TEST(TensorCodec, RefusesDataSizeThatDoesNotMatchShape) {
  const std::string message = decode_error(numpy_map("<f4", {2, 3}, std::string(20, '\0')));
  EXPECT_NE(message.find("20 bytes"), std::string::npos) << message;
  EXPECT_NE(message.find("needs 24"), std::string::npos) << message;
  // A shape whose size overflows must not be trusted for an allocation.
  EXPECT_NE(decode_error(numpy_map("<f8", {1ull << 40, 1ull << 40}, "")).find("too large"),
            std::string::npos);
}

TEST(TensorCodec, IsTensorRejectsPlainMaps) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  packer.pack_map(1);
  packer.pack(std::string("nd"));
  packer.pack(3);
  msgpack::object_handle handle = msgpack::unpack(buffer.data(), buffer.size());
  EXPECT_FALSE(is_tensor(handle.get()));
  EXPECT_THROW(decode_tensor(handle.get()), Error);
}

TEST(TensorCodec, WireTensorDoesNotCopyContiguousCpuTensors) {
  const torch::Tensor t = torch::ones({4, 4});
  EXPECT_EQ(wire_tensor(t).data_ptr(), t.data_ptr());
  EXPECT_NE(wire_tensor(t.t()).data_ptr(), t.data_ptr());
}

}  // namespace
}  // namespace vpet::io
