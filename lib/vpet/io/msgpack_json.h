// Plain (non-tensor) msgpack values as nlohmann::json: vpet headers and the
// non-tensor fields of records (vpet-format(5)).
//
// The mapping is lossless both ways: msgpack nil/bool/int/uint/float/str/
// array/map are JSON null/boolean/integer/unsigned/float/string/array/object,
// and msgpack bin is nlohmann's binary value (dumped as {"bytes": [...],
// "subtype": null}). Ext values are refused: the only ext vpet understands is
// Flax's tensor (ext 1), which is a tensor, not a field. Map keys must be str
// or bin (taken as UTF-8 text) or integers (written in decimal), since JSON
// object keys are strings.
#pragma once

#include <nlohmann/json.hpp>

#include <msgpack.hpp>

#include <cstdint>
#include <string>

#include "vpet/io/utf8.h"

namespace vpet::io {

// Converts a msgpack value; throws vpet::Error for ext values, tensors,
// non-string keys and duplicate keys, naming the offending key path.
nlohmann::json to_json(const msgpack::object& object);

// The text of a map key (str, bin or integer); throws vpet::Error otherwise.
std::string map_key(const msgpack::object& key);

// A string as msgpack str, which readers require to be UTF-8: bytes that
// are not (a file name's, a folder's, from a filesystem that is not UTF-8)
// are written as \xNN, so that every vpet file reads back.
template <typename Stream>
void pack_utf8(msgpack::packer<Stream>& packer, const std::string& text) {
  const std::string written = is_utf8(text) ? text : utf8_escaped(text);
  packer.pack_str(static_cast<std::uint32_t>(written.size()));
  packer.pack_str_body(written.data(), static_cast<std::uint32_t>(written.size()));
}

template <typename Stream>
void pack_json(msgpack::packer<Stream>& packer, const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::null:
    case nlohmann::json::value_t::discarded:
      packer.pack_nil();
      break;
    case nlohmann::json::value_t::boolean:
      value.get<bool>() ? packer.pack_true() : packer.pack_false();
      break;
    case nlohmann::json::value_t::number_integer:
      packer.pack_int64(value.get<std::int64_t>());
      break;
    case nlohmann::json::value_t::number_unsigned:
      packer.pack_uint64(value.get<std::uint64_t>());
      break;
    case nlohmann::json::value_t::number_float:
      packer.pack_double(value.get<double>());
      break;
    case nlohmann::json::value_t::string:
      pack_utf8(packer, value.get_ref<const std::string&>());
      break;
    case nlohmann::json::value_t::binary: {
      const auto& bytes = value.get_binary();
      packer.pack_bin(static_cast<std::uint32_t>(bytes.size()));
      if (!bytes.empty()) {
        packer.pack_bin_body(reinterpret_cast<const char*>(bytes.data()),
                             static_cast<std::uint32_t>(bytes.size()));
      }
      break;
    }
    case nlohmann::json::value_t::array:
      packer.pack_array(static_cast<std::uint32_t>(value.size()));
      for (const auto& element : value) pack_json(packer, element);
      break;
    case nlohmann::json::value_t::object:
      packer.pack_map(static_cast<std::uint32_t>(value.size()));
      for (auto it = value.begin(); it != value.end(); ++it) {
        pack_utf8(packer, it.key());
        pack_json(packer, it.value());
      }
      break;
  }
}

}  // namespace vpet::io
