#include "vpet/io/tensor_codec.h"

#include <cstring>
#include <string_view>
#include <vector>

namespace vpet::io {
namespace {

// How a payload is laid out: the element type and whether it is big-endian.
struct WireType {
  torch::ScalarType dtype;
  bool big_endian;
};

// The bytes of a str or bin object; false for any other type.
bool raw_bytes(const msgpack::object& object, std::string_view& out) {
  if (object.type == msgpack::type::STR) {
    out = std::string_view(object.via.str.ptr, object.via.str.size);
    return true;
  }
  if (object.type == msgpack::type::BIN) {
    out = std::string_view(object.via.bin.ptr, object.via.bin.size);
    return true;
  }
  return false;
}

// Looks a key up in a map, matching it as str or bin: Python writes bytes
// keys as bin, other writers (and msgpack < 1.0 in Python) as str.
const msgpack::object* find_key(const msgpack::object& map, std::string_view key) {
  for (std::uint32_t i = 0; i < map.via.map.size; ++i) {
    std::string_view name;
    if (raw_bytes(map.via.map.ptr[i].key, name) && name == key) return &map.via.map.ptr[i].val;
  }
  return nullptr;
}

const msgpack::object& require_key(const msgpack::object& map, std::string_view key) {
  const msgpack::object* value = find_key(map, key);
  if (!value) throw Error("msgpack-numpy array has no '" + std::string(key) + "' key");
  return *value;
}

const char* kSupported = "float32, float16, bfloat16, float64, int64, int32, uint8, bool";

// Accepts numpy dtype strings ('<f4', '>i8', '|u1', '=f2', 'f4'), the names
// numpy and Flax use ('float32', 'int64', 'bool'...) and 'bfloat16'.
WireType parse_type(std::string_view text) {
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
  throw Error("unsupported tensor dtype '" + std::string(text) + "' (supported: " + kSupported +
              ")");
}

std::vector<std::int64_t> parse_shape(const msgpack::object& shape) {
  if (shape.type != msgpack::type::ARRAY) throw Error("tensor shape is not an array");
  // numpy allows 32 (64 since 2.0) dimensions; more is a corrupt header.
  if (shape.via.array.size > 64) throw Error("tensor has more than 64 dimensions");
  std::vector<std::int64_t> sizes;
  for (std::uint32_t i = 0; i < shape.via.array.size; ++i) {
    const msgpack::object& dim = shape.via.array.ptr[i];
    if (dim.type != msgpack::type::POSITIVE_INTEGER ||
        dim.via.u64 > static_cast<std::uint64_t>(INT64_MAX)) {
      throw Error("tensor shape holds something other than a non-negative integer");
    }
    sizes.push_back(static_cast<std::int64_t>(dim.via.u64));
  }
  return sizes;
}

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

// Builds a tensor from a validated layout; the payload is copied because a
// msgpack buffer gives no alignment guarantee.
torch::Tensor make_tensor(WireType type, const std::vector<std::int64_t>& sizes,
                          std::string_view data) {
  // bool travels as one byte per element; read it as uint8 so a byte other
  // than 0/1 becomes true instead of an invalid bool.
  const torch::ScalarType storage = type.dtype == torch::kBool ? torch::kUInt8 : type.dtype;
  const std::uint64_t item = c10::elementSize(storage);
  std::uint64_t expected = item;
  for (std::int64_t size : sizes) {
    if (__builtin_mul_overflow(expected, static_cast<std::uint64_t>(size), &expected)) {
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
  if (type.dtype == torch::kBool) tensor = tensor.ne(0);
  return tensor;
}

torch::Tensor decode_numpy(const msgpack::object& map) {
  const msgpack::object& nd = require_key(map, "nd");
  std::string_view type_text;
  if (!raw_bytes(require_key(map, "type"), type_text)) {
    // Structured dtypes carry a list of fields here; say what it is.
    throw Error("tensor 'type' is not a dtype string (structured numpy arrays are not supported)");
  }
  if (const msgpack::object* kind = find_key(map, "kind")) {
    std::string_view kind_text;
    if (!raw_bytes(*kind, kind_text)) throw Error("tensor 'kind' is not a string");
    if (kind_text == "O") {
      throw Error("numpy object arrays (kind 'O') are pickles, not tensors; refusing to load");
    }
    if (!kind_text.empty()) {
      throw Error("numpy structured arrays (kind '" + std::string(kind_text) +
                  "') are not supported");
    }
  }
  const WireType type = parse_type(type_text);
  std::string_view data;
  if (!raw_bytes(require_key(map, "data"), data)) throw Error("tensor 'data' is not bytes");
  // A numpy scalar ({nd: false}) has no shape: it is a 0-d tensor.
  const std::vector<std::int64_t> sizes =
      nd.via.boolean ? parse_shape(require_key(map, "shape")) : std::vector<std::int64_t>{};
  return make_tensor(type, sizes, data);
}

bool reference_payload(msgpack::type::object_type, std::size_t, void*) {
  return true;
}

// Flax (flax.serialization): ext 1 holds msgpack [shape, dtype name, bytes],
// the bytes in C order and the host's (little-endian) byte order.
torch::Tensor decode_flax(const msgpack::object& ext) {
  const char* payload = ext.via.ext.data();
  const std::size_t size = ext.via.ext.size;
  std::size_t offset = 0;
  msgpack::object_handle handle;
  try {
    // Small limits: the payload is one short array, the depth is two.
    handle = msgpack::unpack(payload, size, offset, reference_payload, nullptr,
                             msgpack::unpack_limit(64, 0, 64, 0xffffffff, 0, 3));
  } catch (const std::exception& e) {
    throw Error(std::string("malformed Flax array (ext type 1): ") + e.what());
  }
  const msgpack::object& tuple = handle.get();
  if (offset != size || tuple.type != msgpack::type::ARRAY || tuple.via.array.size != 3) {
    throw Error("malformed Flax array (ext type 1): expected [shape, dtype, bytes]");
  }
  std::string_view name, data;
  if (!raw_bytes(tuple.via.array.ptr[1], name) || !raw_bytes(tuple.via.array.ptr[2], data)) {
    throw Error("malformed Flax array (ext type 1): dtype or data is not a string");
  }
  WireType type = parse_type(name);
  type.big_endian = false;
  return make_tensor(type, parse_shape(tuple.via.array.ptr[0]), data);
}

}  // namespace

std::string numpy_type_str(torch::ScalarType dtype) {
  switch (dtype) {
    case torch::kFloat32:
      return "<f4";
    case torch::kFloat16:
      return "<f2";
    case torch::kFloat64:
      return "<f8";
    case torch::kInt64:
      return "<i8";
    case torch::kInt32:
      return "<i4";
    case torch::kUInt8:
      return "|u1";
    case torch::kBool:
      return "|b1";
    case torch::kBFloat16:
      return "bfloat16";
    default:
      throw Error("cannot write a tensor of dtype " + std::string(c10::toString(dtype)) +
                  " (supported: " + kSupported + ")");
  }
}

torch::Tensor wire_tensor(const torch::Tensor& tensor) {
  return tensor.detach().to(torch::kCPU).contiguous();
}

bool is_tensor(const msgpack::object& object) {
  if (object.type == msgpack::type::EXT) return object.via.ext.type() == 1;
  if (object.type != msgpack::type::MAP) return false;
  const msgpack::object* nd = find_key(object, "nd");
  return nd && nd->type == msgpack::type::BOOLEAN;
}

torch::Tensor decode_tensor(const msgpack::object& object) {
  if (object.type == msgpack::type::EXT) {
    if (object.via.ext.type() != 1) {
      throw Error("msgpack ext type " + std::to_string(object.via.ext.type()) +
                  " is not a tensor (only Flax's ext type 1 arrays are)");
    }
    return decode_flax(object);
  }
  if (!is_tensor(object)) throw Error("value is not a msgpack-numpy array");
  return decode_numpy(object);
}

}  // namespace vpet::io
