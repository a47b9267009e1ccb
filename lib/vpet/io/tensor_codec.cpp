#include "vpet/io/tensor_codec.h"

#include "vpet/io/numpy_dtype.h"

#include <cstring>
#include <string_view>
#include <vector>

namespace vpet::io {
namespace {

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
  const NumpyType type = parse_numpy_type(type_text);
  std::string_view data;
  if (!raw_bytes(require_key(map, "data"), data)) throw Error("tensor 'data' is not bytes");
  // A numpy scalar ({nd: false}) has no shape: it is a 0-d tensor.
  const std::vector<std::int64_t> sizes =
      nd.via.boolean ? parse_shape(require_key(map, "shape")) : std::vector<std::int64_t>{};
  return tensor_from_bytes(type, sizes, data);
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
  NumpyType type = parse_numpy_type(name);
  type.big_endian = false;
  return tensor_from_bytes(type, parse_shape(tuple.via.array.ptr[0]), data);
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
                  " (supported: " + kSupportedDtypes + ")");
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
