#include "vpet/io/msgpack_json.h"

#include "vpet/error.h"
#include "vpet/io/tensor_codec.h"
#include "vpet/io/utf8.h"

namespace vpet::io {
namespace {

// JSON holds UTF-8 only: a string that is not must be refused here, naming
// its place, not when the header is printed (nlohmann's serialiser checks).
std::string utf8_string(std::string text, const std::string& where) {
  if (!is_utf8(text)) throw Error("a string" + where + " is not valid UTF-8");
  return text;
}

nlohmann::json convert(const msgpack::object& object, const std::string& path) {
  const auto where = [&path] { return path.empty() ? std::string() : " at '" + path + "'"; };
  switch (object.type) {
    case msgpack::type::NIL:
      return nullptr;
    case msgpack::type::BOOLEAN:
      return object.via.boolean;
    case msgpack::type::POSITIVE_INTEGER:
      return object.via.u64;
    case msgpack::type::NEGATIVE_INTEGER:
      return object.via.i64;
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
      return object.via.f64;
    case msgpack::type::STR:
      return utf8_string(std::string(object.via.str.ptr, object.via.str.size), where());
    case msgpack::type::BIN: {
      const auto* bytes = reinterpret_cast<const std::uint8_t*>(object.via.bin.ptr);
      return nlohmann::json::binary(std::vector<std::uint8_t>(bytes, bytes + object.via.bin.size));
    }
    case msgpack::type::ARRAY: {
      nlohmann::json array = nlohmann::json::array();
      for (std::uint32_t i = 0; i < object.via.array.size; ++i) {
        array.push_back(
            convert(object.via.array.ptr[i], path + (path.empty() ? "" : ".") + std::to_string(i)));
      }
      return array;
    }
    case msgpack::type::MAP: {
      if (is_tensor(object)) throw Error("unexpected tensor" + where() + " in a plain value");
      nlohmann::json map = nlohmann::json::object();
      for (std::uint32_t i = 0; i < object.via.map.size; ++i) {
        const std::string key =
            utf8_string(map_key(object.via.map.ptr[i].key), " (a key)" + where());
        const std::string child = path + (path.empty() ? "" : ".") + key;
        if (map.contains(key)) throw Error("duplicate key '" + child + "'");
        map[key] = convert(object.via.map.ptr[i].val, child);
      }
      return map;
    }
    case msgpack::type::EXT:
      throw Error("msgpack ext type " + std::to_string(object.via.ext.type()) + where() +
                  " is not supported in a plain value");
  }
  throw Error("unknown msgpack type" + where());
}

}  // namespace

nlohmann::json to_json(const msgpack::object& object) {
  return convert(object, "");
}

std::string map_key(const msgpack::object& key) {
  switch (key.type) {
    case msgpack::type::STR:
      return std::string(key.via.str.ptr, key.via.str.size);
    case msgpack::type::BIN:
      return std::string(key.via.bin.ptr, key.via.bin.size);
    case msgpack::type::POSITIVE_INTEGER:
      return std::to_string(key.via.u64);
    case msgpack::type::NEGATIVE_INTEGER:
      return std::to_string(key.via.i64);
    default:
      throw Error("map key is not a string or an integer (vpet needs string keys)");
  }
}

}  // namespace vpet::io
