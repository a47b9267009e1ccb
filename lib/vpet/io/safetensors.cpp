#include "vpet/io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <stdexcept>

#include "vpet/error.h"
#include "vpet/io/atomic_file.h"
#include "vpet/io/numpy_dtype.h"
#include "vpet/io/tensor_text.h"

namespace vpet::io {
namespace {

using json = nlohmann::json;

// The reference reader's limit (safetensors/src/tensor.rs, MAX_HEADER_SIZE).
constexpr std::uint64_t kMaxHeaderSize = 100'000'000;

struct DtypeInfo {
  const char* name;
  torch::Dtype dtype;
  std::size_t itemsize;
};

constexpr DtypeInfo kDtypes[] = {
    {"F64", torch::kFloat64, 8},   {"F32", torch::kFloat32, 4}, {"F16", torch::kFloat16, 2},
    {"BF16", torch::kBFloat16, 2}, {"I64", torch::kInt64, 8},   {"I32", torch::kInt32, 4},
    {"I16", torch::kInt16, 2},     {"I8", torch::kInt8, 1},     {"U8", torch::kUInt8, 1},
    {"BOOL", torch::kBool, 1},
};

// dtypes the format defines that LibTorch 1.13 cannot hold: refused by name
// rather than as "unknown", so the user knows the file is fine but vpet is not.
constexpr const char* kUnsupportedDtypes[] = {"F4",      "F6_E2M3", "F6_E3M2",     "F8_E5M2",
                                              "F8_E4M3", "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ",
                                              "U16",     "U32",     "U64",         "C64"};

const DtypeInfo* find_dtype(const std::string& name) {
  for (const auto& d : kDtypes) {
    if (name == d.name) return &d;
  }
  return nullptr;
}

const DtypeInfo* find_dtype(torch::Dtype dtype) {
  for (const auto& d : kDtypes) {
    if (dtype == d.dtype) return &d;
  }
  return nullptr;
}

std::uint64_t read_u64_le(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// Header length from the first 8 bytes, checked against the limit and the
// file size.
std::uint64_t header_length(const std::uint8_t* first8, std::uint64_t file_size,
                            const std::string& source) {
  if (file_size < 8) {
    throw Error(source + ": " + std::to_string(file_size) +
                " bytes is too short for a safetensors file (8-byte header length missing)");
  }
  const std::uint64_t n = read_u64_le(first8);
  if (n > kMaxHeaderSize) {
    throw Error(source + ": header length " + std::to_string(n) + " at byte 0 exceeds the " +
                std::to_string(kMaxHeaderSize) + "-byte limit (not a safetensors file?)");
  }
  if (n > file_size - 8) {
    throw Error(source + ": header length " + std::to_string(n) + " at byte 0 runs past the end (" +
                std::to_string(file_size) + "-byte file; truncated?)");
  }
  return n;
}

// nlohmann keeps the last of duplicate keys silently; the reference reader
// refuses them. A parser callback sees every key as it is read.
json parse_json_refusing_duplicates(const char* text, std::size_t size, const std::string& source) {
  std::vector<std::set<std::string>> open_objects;
  auto callback = [&](int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        open_objects.emplace_back();
        break;
      case json::parse_event_t::object_end:
        open_objects.pop_back();
        break;
      case json::parse_event_t::key: {
        const auto& key = parsed.get_ref<const std::string&>();
        if (!open_objects.back().insert(key).second) {
          throw Error(source + ": header has the key '" + key + "' twice");
        }
        break;
      }
      default:
        break;
    }
    return true;
  };
  try {
    return json::parse(text, text + size, callback);
  } catch (const json::parse_error& e) {
    // e.byte counts from 1 within the header; the header starts at file byte 8.
    throw Error(source + ": header is not valid UTF-8 JSON (near file byte " +
                std::to_string(e.byte + 7) + "): " + e.what());
  } catch (const json::out_of_range&) {
    throw Error(source + ": header holds a number too large for a double");
  }
}

std::uint64_t non_negative_int(const json& value, const std::string& where) {
  if (!value.is_number_unsigned()) throw Error(where + " must be a non-negative integer");
  return value.get<std::uint64_t>();
}

SafetensorsEntry parse_entry(const std::string& name, const json& info, const std::string& source) {
  const std::string where = source + ": tensor '" + name + "'";
  if (!info.is_object()) throw Error(where + ": header entry is not an object");
  for (const char* field : {"dtype", "shape", "data_offsets"}) {
    if (!info.contains(field)) throw Error(where + ": header entry has no '" + field + "'");
  }
  SafetensorsEntry entry;
  entry.name = name;
  if (!info["dtype"].is_string()) throw Error(where + ": dtype is not a string");
  entry.dtype = info["dtype"].get<std::string>();
  const DtypeInfo* dtype = find_dtype(entry.dtype);
  if (!dtype) {
    for (const char* unsupported : kUnsupportedDtypes) {
      if (entry.dtype == unsupported) {
        throw Error(where + ": dtype " + entry.dtype +
                    " not supported (vpet reads F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)");
      }
    }
    throw Error(where + ": unknown dtype '" + entry.dtype + "'");
  }
  if (!info["shape"].is_array()) throw Error(where + ": shape is not an array");
  // extent: the product of the non-zero sizes, which strides reach even
  // when a zero size leaves no elements; it must fit LibTorch's int64.
  std::uint64_t numel = 1, extent = 1;
  for (const auto& dim : info["shape"]) {
    const std::uint64_t d = non_negative_int(dim, where + ": shape entry");
    if (d > std::uint64_t(std::numeric_limits<std::int64_t>::max()) ||
        (d != 0 && extent > std::uint64_t(std::numeric_limits<std::int64_t>::max()) / d)) {
      throw Error(where + ": shape " + info["shape"].dump() + " has too many elements");
    }
    numel *= d;
    if (d != 0) extent *= d;
    entry.shape.push_back(std::int64_t(d));
  }
  const json& offsets = info["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2) {
    throw Error(where + ": data_offsets must be [begin, end]");
  }
  entry.begin = non_negative_int(offsets[0], where + ": data_offsets begin");
  entry.end = non_negative_int(offsets[1], where + ": data_offsets end");
  if (entry.end < entry.begin) {
    throw Error(where + ": data_offsets [" + std::to_string(entry.begin) + ", " +
                std::to_string(entry.end) + "] end before begin");
  }
  if (numel > std::numeric_limits<std::uint64_t>::max() / dtype->itemsize) {
    throw Error(where + ": shape " + shape_string(entry.shape) + " has too many bytes");
  }
  const std::uint64_t needed = numel * dtype->itemsize;
  if (entry.end - entry.begin != needed) {
    throw Error(where + ": data_offsets [" + std::to_string(entry.begin) + ", " +
                std::to_string(entry.end) + "] hold " + std::to_string(entry.end - entry.begin) +
                " bytes but shape " + shape_string(entry.shape) + " of " + entry.dtype + " needs " +
                std::to_string(needed));
  }
  return entry;
}

SafetensorsHeader parse_header_json(const std::uint8_t* text, std::uint64_t n,
                                    std::uint64_t file_size, const std::string& source) {
  const json header =
      parse_json_refusing_duplicates(reinterpret_cast<const char*>(text), n, source);
  if (!header.is_object()) throw Error(source + ": header is JSON but not an object");
  SafetensorsHeader out;
  out.buffer_offset = 8 + n;
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) throw Error(source + ": __metadata__ is not an object");
      for (const auto& [mkey, mvalue] : value.items()) {
        if (!mvalue.is_string()) {
          throw Error(source + ": __metadata__ value for '" + mkey +
                      "' is not a string (safetensors metadata is string to string)");
        }
        out.metadata[mkey] = mvalue.get<std::string>();
      }
      continue;
    }
    out.entries.push_back(parse_entry(key, value, source));
  }
  // Offsets sorted must tile the buffer from 0 with no gap or overlap.
  std::stable_sort(out.entries.begin(), out.entries.end(),
                   [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
                     return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
                   });
  std::uint64_t expected = 0;
  for (const auto& e : out.entries) {
    if (e.begin != expected) {
      throw Error(source + ": tensor '" + e.name + "': data_offsets begin " +
                  std::to_string(e.begin) + " but the previous tensor ends at " +
                  std::to_string(expected) + (e.begin > expected ? " (gap)" : " (overlap)"));
    }
    expected = e.end;
  }
  const std::uint64_t buffer_size = file_size - out.buffer_offset;
  if (expected != buffer_size) {
    throw Error(source + ": tensors end at buffer byte " + std::to_string(expected) +
                " but the data buffer holds " + std::to_string(buffer_size) + " bytes (file byte " +
                std::to_string(out.buffer_offset) + " on)" +
                (expected > buffer_size ? "; truncated?" : ""));
  }
  return out;
}

std::string system_error(const std::string& path, const char* what) {
  return path + ": " + what + ": " + std::strerror(errno);
}

// A read-only mapping of a whole file, unmapped on scope exit.
class MappedFile {
 public:
  explicit MappedFile(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error(system_error(path, "cannot open"));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      const std::string message = system_error(path, "cannot stat");
      ::close(fd);
      throw Error(message);
    }
    size_ = std::size_t(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        const std::string message = system_error(path, "cannot map");
        ::close(fd);
        throw Error(message);
      }
      data_ = static_cast<const std::uint8_t*>(p);
    }
    ::close(fd);
  }
  ~MappedFile() {
    if (data_) ::munmap(const_cast<std::uint8_t*>(data_), size_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  const std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace

const torch::Tensor* TensorMap::find(const std::string& name) const {
  for (const auto& [n, t] : tensors) {
    if (n == name) return &t;
  }
  return nullptr;
}

void TensorMap::add(std::string name, torch::Tensor tensor) {
  if (contains(name)) throw std::invalid_argument("TensorMap: duplicate tensor '" + name + "'");
  tensors.emplace_back(std::move(name), std::move(tensor));
}

SafetensorsHeader parse_safetensors_header(const std::uint8_t* bytes, std::size_t size,
                                           const std::string& source) {
  const std::uint64_t n = header_length(bytes, size, source);
  return parse_header_json(bytes + 8, n, size, source);
}

TensorMap decode_safetensors(const std::uint8_t* bytes, std::size_t size,
                             const std::string& source) {
  const SafetensorsHeader header = parse_safetensors_header(bytes, size, source);
  TensorMap out;
  out.metadata = header.metadata;
  for (const auto& e : header.entries) {
    const DtypeInfo* dtype = find_dtype(e.dtype);
    torch::Tensor t = torch::empty(e.shape, torch::TensorOptions().dtype(dtype->dtype));
    // The buffer is little-endian and may be unaligned: copy bytes, never cast.
    if (e.end > e.begin) {
      std::memcpy(t.data_ptr(), bytes + header.buffer_offset + e.begin, e.end - e.begin);
    }
    try {
      const bool is_bool = t.scalar_type() == torch::kBool;
      require_sane_values(is_bool ? t.view(torch::kUInt8) : t, is_bool);
    } catch (const Error& error) {
      throw Error(source + ": tensor '" + e.name + "': " + error.what());
    }
    out.tensors.emplace_back(e.name, std::move(t));
  }
  return out;
}

TensorMap read_safetensors(const std::string& path) {
  const MappedFile file(path);
  return decode_safetensors(file.data(), file.size(), path);
}

SafetensorsHeader read_safetensors_header(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(system_error(path, "cannot open"));
  in.seekg(0, std::ios::end);
  const std::uint64_t file_size = std::uint64_t(in.tellg());
  in.seekg(0);
  std::uint8_t first8[8] = {};
  in.read(reinterpret_cast<char*>(first8), std::min<std::uint64_t>(8, file_size));
  const std::uint64_t n = header_length(first8, file_size, path);
  std::vector<std::uint8_t> text(n);
  if (!in.read(reinterpret_cast<char*>(text.data()), std::streamsize(n))) {
    throw Error(path + ": cannot read the " + std::to_string(n) + "-byte header");
  }
  return parse_header_json(text.data(), n, file_size, path);
}

std::string encode_safetensors(const TensorMap& map) {
  struct Item {
    const std::string* name;
    torch::Tensor data;
    const DtypeInfo* dtype;
  };
  std::vector<Item> items;
  std::set<std::string> names;
  for (const auto& [name, tensor] : map.tensors) {
    if (name == "__metadata__") throw Error("safetensors: '__metadata__' cannot name a tensor");
    if (!names.insert(name).second) throw Error("safetensors: tensor '" + name + "' given twice");
    const DtypeInfo* dtype = find_dtype(tensor.scalar_type());
    if (!dtype) {
      throw Error(std::string("safetensors: tensor '") + name + "' has dtype " +
                  c10::toString(tensor.scalar_type()) + ", which safetensors cannot hold");
    }
    items.push_back({&name, tensor.detach().to(torch::kCPU).contiguous(), dtype});
  }
  // The reference writer's order: larger dtypes first keeps every tensor
  // aligned to its item size, since the buffer starts 8-aligned.
  std::stable_sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    if (a.dtype->itemsize != b.dtype->itemsize) return a.dtype->itemsize > b.dtype->itemsize;
    return *a.name < *b.name;
  });
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!map.metadata.empty()) header["__metadata__"] = map.metadata;
  std::uint64_t offset = 0;
  for (const auto& item : items) {
    const std::uint64_t bytes = std::uint64_t(item.data.numel()) * item.dtype->itemsize;
    header[*item.name] = {{"dtype", item.dtype->name},
                          {"shape", item.data.sizes().vec()},
                          {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string out;
  out.reserve(8 + text.size() + offset);
  const std::uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) out.push_back(char((n >> (8 * i)) & 0xff));
  out += text;
  for (const auto& item : items) {
    out.append(static_cast<const char*>(item.data.data_ptr()),
               std::size_t(item.data.numel()) * item.dtype->itemsize);
  }
  return out;
}

void write_safetensors(const std::string& path, const TensorMap& map) {
  AtomicOutput out(path);
  write_safetensors(out, map);
  out.commit();
}

void write_safetensors(AtomicOutput& out, const TensorMap& map) {
  const std::string bytes = encode_safetensors(map);
  out.write(bytes.data(), bytes.size());
}

}  // namespace vpet::io
