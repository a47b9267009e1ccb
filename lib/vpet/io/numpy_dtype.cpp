#include "vpet/io/numpy_dtype.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "vpet/error.h"

namespace vpet::io {

const char* const kSupportedDtypes =
    "float32, float16, bfloat16, float64, int64, int32, uint8, bool";

NumpyType parse_numpy_type(std::string_view text) {
  struct Name {
    std::string_view name;
    torch::ScalarType dtype;
  };
  static const Name kNames[] = {
      {"float32", torch::kFloat32}, {"float16", torch::kFloat16}, {"bfloat16", torch::kBFloat16},
      {"float64", torch::kFloat64}, {"int64", torch::kInt64},     {"int32", torch::kInt32},
      {"uint8", torch::kUInt8},     {"bool", torch::kBool},
  };
  static const Name kCodes[] = {
      {"f4", torch::kFloat32}, {"f2", torch::kFloat16}, {"f8", torch::kFloat64},
      {"i8", torch::kInt64},   {"i4", torch::kInt32},   {"u1", torch::kUInt8},
      {"b1", torch::kBool},
  };
  for (const Name& n : kNames) {
    if (text == n.name) return {n.dtype, false};
  }
  std::string_view code = text;
  bool big_endian = false;
  if (!code.empty() && std::string_view("<>|=").find(code[0]) != std::string_view::npos) {
    big_endian = code[0] == '>';
    code.remove_prefix(1);
  }
  for (const Name& n : kCodes) {
    if (code == n.name) return {n.dtype, big_endian};
  }
  throw Error("unsupported tensor dtype '" + std::string(text) +
              "' (supported: " + kSupportedDtypes + ")");
}

namespace {

void byteswap(torch::Tensor& tensor) {
  const std::int64_t n = tensor.numel();
  switch (tensor.element_size()) {
    case 2: {
      auto* p = static_cast<std::uint16_t*>(tensor.data_ptr());
      for (std::int64_t i = 0; i < n; ++i) p[i] = __builtin_bswap16(p[i]);
      break;
    }
    case 4: {
      auto* p = static_cast<std::uint32_t*>(tensor.data_ptr());
      for (std::int64_t i = 0; i < n; ++i) p[i] = __builtin_bswap32(p[i]);
      break;
    }
    case 8: {
      auto* p = static_cast<std::uint64_t*>(tensor.data_ptr());
      for (std::int64_t i = 0; i < n; ++i) p[i] = __builtin_bswap64(p[i]);
      break;
    }
    default:
      break;  // one-byte types have no byte order
  }
}

}  // namespace

torch::Tensor tensor_from_bytes(NumpyType type, const std::vector<std::int64_t>& sizes,
                                std::string_view data) {
  // bool travels as one byte per element; read it as uint8 so a byte other
  // than 0/1 becomes true instead of an invalid bool.
  const torch::ScalarType storage = type.dtype == torch::kBool ? torch::kUInt8 : type.dtype;
  const std::uint64_t item = c10::elementSize(storage);
  // A zero size makes the byte count 0 whatever the others are; the product
  // of the non-zero sizes (what strides reach) must still fit LibTorch's int64.
  std::uint64_t expected = item, extent = 1;
  for (std::int64_t size : sizes) {
    const auto n = static_cast<std::uint64_t>(size);
    if (__builtin_mul_overflow(expected, n, &expected) ||
        (n != 0 && (__builtin_mul_overflow(extent, n, &extent) ||
                    extent > std::uint64_t(std::numeric_limits<std::int64_t>::max())))) {
      throw Error("tensor shape is too large");
    }
  }
  if (expected != data.size()) {
    std::string shape;
    for (std::int64_t size : sizes) shape += (shape.empty() ? "" : ", ") + std::to_string(size);
    throw Error("tensor data has " + std::to_string(data.size()) + " bytes, but shape [" + shape +
                "] of " + std::string(c10::toString(type.dtype)) + " needs " +
                std::to_string(expected));
  }
  torch::Tensor tensor = torch::empty(sizes, torch::TensorOptions().dtype(storage));
  if (!data.empty()) std::memcpy(tensor.data_ptr(), data.data(), data.size());
  if (type.big_endian) byteswap(tensor);
  require_sane_values(tensor, type.dtype == torch::kBool);
  if (type.dtype == torch::kBool) tensor = tensor.ne(0);
  return tensor;
}

void require_sane_values(const torch::Tensor& tensor, bool is_bool) {
  if (tensor.numel() == 0) return;
  const torch::Tensor flat = tensor.detach().reshape(-1);
  if (is_bool) {
    const torch::Tensor bad = flat.gt(1);
    if (!bad.any().item<bool>()) return;
    const std::int64_t at = bad.nonzero()[0][0].item<std::int64_t>();
    throw Error("bool tensor holds the byte " + std::to_string(flat[at].item<int>()) +
                " at element " + std::to_string(at) + " (a bool is 0 or 1)");
  }
  if (!flat.is_floating_point()) return;
  const torch::Tensor bad = flat.isfinite().logical_not();
  if (!bad.any().item<bool>()) return;
  const std::int64_t at = bad.nonzero()[0][0].item<std::int64_t>();
  const double value = flat[at].item<double>();
  throw Error(std::string("tensor holds ") + (std::isnan(value) ? "NaN" : "an infinite value") +
              " at element " + std::to_string(at) + " (of " + std::to_string(flat.numel()) + ")");
}

}  // namespace vpet::io
