#include "vpet/io/stream.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>
#include <unordered_set>

#include "vpet/error.h"
#include "vpet/io/atomic_file.h"
#include "vpet/io/fault_point.h"
#include "vpet/io/msgpack_json.h"
#include "vpet/io/tensor_codec.h"

namespace vpet::io {

// ---------------------------------------------------------------- records

const torch::Tensor* Record::find_tensor(const std::string& name) const {
  for (const auto& [key, value] : tensors) {
    if (key == name) return &value;
  }
  return nullptr;
}

const torch::Tensor& Record::tensor(const std::string& name) const {
  if (const torch::Tensor* found = find_tensor(name)) return *found;
  std::string have;
  for (const auto& entry : tensors) have += (have.empty() ? "" : ", ") + entry.first;
  throw Error("record has no tensor '" + name + "' (it has: " + (have.empty() ? "none" : have) +
              ")");
}

nlohmann::json make_header(const std::string& kind, const std::string& program,
                           const std::vector<std::string>& args) {
  return {{"format", "vpet"},   {"version", kFormatVersion},       {"kind", kind},
          {"program", program}, {"program_version", VPET_VERSION}, {"args", args}};
}

namespace {

// The fixed header keys, written first and in this order so that a file
// starts with the same recognisable bytes (a fixmap, then "format" "vpet").
constexpr const char* kFixedHeaderKeys[] = {"format",  "version",         "kind",
                                            "program", "program_version", "args"};

// A stream's header says that an end record closes it; the end record is a
// map with format "vpet-end", the number of records and the writer's summary.
constexpr const char* kEndRecordKey = "end_record";
constexpr const char* kEndRecordFormat = "vpet-end";

bool is_fixed_header_key(const std::string& key) {
  for (const char* fixed : kFixedHeaderKeys) {
    if (key == fixed) return true;
  }
  return false;
}

// --------------------------------------------------------------- writing

}  // namespace

// msgpack::packer's stream: everything goes straight to the output file.
// Outside the anonymous namespace because StreamWriter::Impl, which has
// external linkage, holds one.
struct OutputSink {
  AtomicOutput* output;
  void write(const char* data, std::size_t size) { output->write(data, size); }
};
namespace {

void pack_string(msgpack::packer<OutputSink>& packer, const std::string& text) {
  packer.pack_str(static_cast<std::uint32_t>(text.size()));
  packer.pack_str_body(text.data(), static_cast<std::uint32_t>(text.size()));
}

}  // namespace

struct StreamWriter::Impl {
  Impl(std::unique_ptr<AtomicOutput> owned_output, AtomicOutput& target, Shape shape)
      : owned(std::move(owned_output)), output(target), sink{&output}, packer(sink), shape(shape) {}
  std::unique_ptr<AtomicOutput> owned;  // null when the caller owns the output
  AtomicOutput& output;
  OutputSink sink;
  msgpack::packer<OutputSink> packer;
  Shape shape;
  std::uint64_t records = 0;
  bool closed = false;

  std::string where() const { return output.display_name(); }

  void pack_map(const nlohmann::json& map, bool fixed_keys_first) {
    packer.pack_map(static_cast<std::uint32_t>(map.size()));
    if (fixed_keys_first) {
      for (const char* key : kFixedHeaderKeys) {
        if (!map.contains(key)) continue;
        pack_string(packer, key);
        pack_json(packer, map[key]);
      }
    }
    for (auto it = map.begin(); it != map.end(); ++it) {
      if (fixed_keys_first && is_fixed_header_key(it.key())) continue;
      pack_string(packer, it.key());
      pack_json(packer, it.value());
    }
  }

  void write_header(nlohmann::json header) {
    const auto is = [&header](const char* key, const nlohmann::json& expected) {
      return header.contains(key) && header[key] == expected;
    };
    if (!header.is_object() || !is("format", "vpet") || !is("version", kFormatVersion) ||
        !header.contains("kind") || !header["kind"].is_string()) {
      throw Error("a vpet header needs format \"vpet\", version " + std::to_string(kFormatVersion) +
                  " and a kind (use make_header)");
    }
    // The header of a piece of a stream is the whole stream's; only the
    // first piece holds it.
    const bool streamed = shape != Shape::kOneShot;
    if (streamed) {
      header[kEndRecordKey] = true;
    } else {
      header.erase(kEndRecordKey);
    }
    if (shape == Shape::kMiddlePiece || shape == Shape::kLastPiece) return;
    pack_map(header, /*fixed_keys_first=*/true);
    output.flush();
  }

  // Whether this writer ends its bytes with the end record.
  bool writes_end() const { return shape == Shape::kStream || shape == Shape::kLastPiece; }
};

StreamWriter::StreamWriter(const std::string& path, const nlohmann::json& header, Shape shape) {
  auto owned = std::make_unique<AtomicOutput>(path);
  AtomicOutput& output = *owned;
  impl_ = std::make_unique<Impl>(std::move(owned), output, shape);
  impl_->write_header(header);
}

StreamWriter::StreamWriter(AtomicOutput& output, const nlohmann::json& header, Shape shape)
    : impl_(std::make_unique<Impl>(nullptr, output, shape)) {
  impl_->write_header(header);
}

StreamWriter::~StreamWriter() = default;

void StreamWriter::write(const Record& record) {
  const std::string where = impl_->where();
  if (impl_->closed) throw Error(where + ": write after close");
  if (impl_->shape == Shape::kOneShot && impl_->records == 1) {
    throw Error(where + ": a one-shot file holds one record");
  }
  // Check everything before the first byte: a record that fails half-way
  // would leave a stream no reader can parse.
  if (!record.fields.is_object()) throw Error(where + ": record fields must be a JSON object");
  std::unordered_set<std::string> names;
  for (auto it = record.fields.begin(); it != record.fields.end(); ++it) names.insert(it.key());
  for (const auto& [name, tensor] : record.tensors) {
    if (!names.insert(name).second) {
      throw Error(where + ": record " + std::to_string(impl_->records + 1) + ": name '" + name +
                  "' is used twice");
    }
    if (!tensor.defined()) throw Error(where + ": tensor '" + name + "' is undefined");
    try {
      numpy_type_str(tensor.scalar_type());
      if (static_cast<std::uint64_t>(tensor.numel()) * tensor.element_size() > kMaxTensorBytes) {
        throw Error("payload exceeds 4 GiB - 1, the most one msgpack bin holds; split it");
      }
    } catch (const Error& e) {
      throw Error(where + ": tensor '" + name + "': " + e.what());
    }
  }
  auto& packer = impl_->packer;
  packer.pack_map(static_cast<std::uint32_t>(names.size()));
  for (auto it = record.fields.begin(); it != record.fields.end(); ++it) {
    pack_string(packer, it.key());
    pack_json(packer, it.value());
  }
  for (const auto& [name, tensor] : record.tensors) {
    pack_string(packer, name);
    pack_tensor(packer, tensor);
  }
  impl_->output.flush();
  ++impl_->records;
  fault_point("record");
}

void StreamWriter::close(const nlohmann::json& summary) {
  if (impl_->closed) return;
  if (impl_->writes_end()) {
    nlohmann::json end = {{"format", kEndRecordFormat}, {"records", impl_->records}};
    if (summary.is_object()) {
      for (auto it = summary.begin(); it != summary.end(); ++it) end[it.key()] = it.value();
    }
    impl_->pack_map(end, /*fixed_keys_first=*/false);
  }
  impl_->output.flush();
  if (impl_->owned) impl_->output.commit();
  impl_->closed = true;
}

std::uint64_t StreamWriter::records_written() const {
  return impl_->records;
}

// --------------------------------------------------------------- reading

namespace {

const char* type_name(msgpack::type::object_type type) {
  switch (type) {
    case msgpack::type::NIL:
      return "nil";
    case msgpack::type::BOOLEAN:
      return "a boolean";
    case msgpack::type::POSITIVE_INTEGER:
    case msgpack::type::NEGATIVE_INTEGER:
      return "an integer";
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
      return "a float";
    case msgpack::type::STR:
      return "a string";
    case msgpack::type::BIN:
      return "binary data";
    case msgpack::type::ARRAY:
      return "an array";
    case msgpack::type::MAP:
      return "a map";
    case msgpack::type::EXT:
      return "an ext value";
  }
  return "an unknown value";
}

bool contains_tensor(const msgpack::object& value) {
  if (is_tensor(value)) return true;
  if (value.type == msgpack::type::MAP) {
    for (std::uint32_t i = 0; i < value.via.map.size; ++i) {
      if (contains_tensor(value.via.map.ptr[i].val)) return true;
    }
  } else if (value.type == msgpack::type::ARRAY) {
    for (std::uint32_t i = 0; i < value.via.array.size; ++i) {
      if (contains_tensor(value.via.array.ptr[i])) return true;
    }
  }
  return false;
}

// Adds `value` to the record under `name`; maps and arrays that hold tensors
// are opened up, their members named "name.key" / "name.index".
void flatten(const msgpack::object& value, const std::string& name, Record& record,
             std::unordered_set<std::string>& names) {
  if (!is_tensor(value) && contains_tensor(value)) {
    if (value.type == msgpack::type::MAP) {
      for (std::uint32_t i = 0; i < value.via.map.size; ++i) {
        flatten(value.via.map.ptr[i].val, name + "." + map_key(value.via.map.ptr[i].key), record,
                names);
      }
    } else {
      for (std::uint32_t i = 0; i < value.via.array.size; ++i) {
        flatten(value.via.array.ptr[i], name + "." + std::to_string(i), record, names);
      }
    }
    return;
  }
  if (!names.insert(name).second) throw Error("name '" + name + "' occurs twice");
  try {
    if (is_tensor(value)) {
      record.tensors.emplace_back(name, decode_tensor(value));
    } else {
      record.fields[name] = to_json(value);
    }
  } catch (const Error& e) {
    throw Error((is_tensor(value) ? "tensor '" : "field '") + name + "': " + e.what());
  }
}

// Reads a big-endian length field of `bytes` bytes.
std::uint64_t load_be(const std::uint8_t* p, int bytes) {
  std::uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) value = (value << 8) | p[i];
  return value;
}

// str/bin/ext payloads point into the unpacker's buffer instead of being
// copied: tensors are copied once, from there into their own storage.
bool reference_payloads(msgpack::type::object_type, std::size_t, void*) {
  return true;
}

// The layout of msgpack types 0xc0..0xdf after the type byte: a big-endian
// length field of `length_bytes`, then `fixed` bytes (an ext's type byte, a
// number), then, when the length counts bytes, that many payload bytes.
enum class Counts : std::uint8_t { kNothing, kBytes, kItems, kPairs };
struct TypeLayout {
  std::uint8_t length_bytes;
  std::uint8_t fixed;
  Counts counts;
};
constexpr TypeLayout kLayouts[32] = {
    {0, 0, Counts::kNothing},   // c0 nil
    {0, 0, Counts::kNothing},   // c1 (never used; refused before the lookup)
    {0, 0, Counts::kNothing},   // c2 false
    {0, 0, Counts::kNothing},   // c3 true
    {1, 0, Counts::kBytes},     // c4 bin8
    {2, 0, Counts::kBytes},     // c5 bin16
    {4, 0, Counts::kBytes},     // c6 bin32
    {1, 1, Counts::kBytes},     // c7 ext8
    {2, 1, Counts::kBytes},     // c8 ext16
    {4, 1, Counts::kBytes},     // c9 ext32
    {0, 4, Counts::kNothing},   // ca float32
    {0, 8, Counts::kNothing},   // cb float64
    {0, 1, Counts::kNothing},   // cc uint8
    {0, 2, Counts::kNothing},   // cd uint16
    {0, 4, Counts::kNothing},   // ce uint32
    {0, 8, Counts::kNothing},   // cf uint64
    {0, 1, Counts::kNothing},   // d0 int8
    {0, 2, Counts::kNothing},   // d1 int16
    {0, 4, Counts::kNothing},   // d2 int32
    {0, 8, Counts::kNothing},   // d3 int64
    {0, 2, Counts::kNothing},   // d4 fixext1
    {0, 3, Counts::kNothing},   // d5 fixext2
    {0, 5, Counts::kNothing},   // d6 fixext4
    {0, 9, Counts::kNothing},   // d7 fixext8
    {0, 17, Counts::kNothing},  // d8 fixext16
    {1, 0, Counts::kBytes},     // d9 str8
    {2, 0, Counts::kBytes},     // da str16
    {4, 0, Counts::kBytes},     // db str32
    {2, 0, Counts::kItems},     // dc array16
    {4, 0, Counts::kItems},     // dd array32
    {2, 0, Counts::kPairs},     // de map16
    {4, 0, Counts::kPairs},     // df map32
};

// Nesting deeper than this is refused; it also bounds the recursion above.
constexpr std::size_t kMaxDepth = 128;
constexpr std::size_t kReadChunk = 64 * 1024;

}  // namespace

struct StreamReader::Impl {
  int fd = -1;
  bool owns_fd = false;
  std::string name;
  msgpack::unpacker unpacker{
      reference_payloads, nullptr, MSGPACK_UNPACKER_INIT_BUFFER_SIZE,
      msgpack::unpack_limit(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, kMaxDepth)};
  bool eof = false;
  bool failed = false;
  // Scanner state for the object being received: where the next token
  // starts, relative to the unparsed bytes, and how many values are still
  // due before the top-level value is complete.
  std::uint64_t scan_offset = 0;
  std::uint64_t pending = 1;
  std::uint64_t scanned_values = 0;
  // Byte offset in the input of the next object's first byte.
  std::uint64_t offset = 0;
  std::uint64_t records = 0;

  bool header_present = false;
  nlohmann::json header;
  // A version-2 stream ends with an end record; `end` holds it once read.
  bool expects_end = false;
  bool ended = false;
  nlohmann::json end = nlohmann::json::object();
  // A header-less input's first map, waiting to be returned as record 1.
  msgpack::object_handle first;
  std::uint64_t first_offset = 0;
  bool first_pending = false;

  std::string where(std::uint64_t record, std::uint64_t at) const {
    return name + ": " +
           (record == 0 ? std::string("header") : "record " + std::to_string(record)) + " (byte " +
           std::to_string(at) + "): ";
  }

  // Walks the msgpack tokens that have arrived without building anything, to
  // learn whether the next top-level value is complete. Only then is it
  // handed to the unpacker, so that a length field promising more than
  // arrives never makes the unpacker allocate for it.
  bool complete(std::uint64_t record) {
    const auto* p = reinterpret_cast<const std::uint8_t*>(unpacker.nonparsed_buffer());
    const std::uint64_t available = unpacker.nonparsed_size();
    while (pending > 0) {
      if (scan_offset >= available) return false;
      const std::uint8_t b = p[scan_offset];
      std::uint64_t size = 1, items = 0;
      if (b <= 0x7f || b >= 0xe0) {
        // positive or negative fixint
      } else if (b <= 0x8f) {
        items = 2u * (b & 0x0fu);  // fixmap
      } else if (b <= 0x9f) {
        items = b & 0x0fu;  // fixarray
      } else if (b <= 0xbf) {
        size += b & 0x1fu;  // fixstr
      } else if (b == 0xc1) {
        throw Error(where(record, offset + scan_offset) +
                    "malformed msgpack: 0xc1 is not a msgpack type byte (is this a vpet or "
                    "msgpack file?)");
      } else {
        const TypeLayout& layout = kLayouts[b - 0xc0];
        if (scan_offset + 1 + layout.length_bytes > available) return false;
        const std::uint64_t length = load_be(p + scan_offset + 1, layout.length_bytes);
        size += layout.length_bytes + layout.fixed;
        if (layout.counts == Counts::kBytes) size += length;
        if (layout.counts == Counts::kItems) items = length;
        if (layout.counts == Counts::kPairs) items = 2 * length;
      }
      pending = pending - 1 + items;
      scan_offset += size;
      if (++scanned_values > kMaxRecordValues) {
        throw Error(where(record, offset) + "more than " + std::to_string(kMaxRecordValues) +
                    " msgpack values in one map, the most a vpet reader accepts");
      }
      // Every value still due takes at least one byte.
      if (scan_offset + pending > kMaxRecordBytes) {
        throw Error(where(record, offset) + "value is larger than " +
                    std::to_string(kMaxRecordBytes >> 30) +
                    " GiB, the most a vpet reader accepts (corrupt length field?)");
      }
    }
    return scan_offset <= available;
  }

  void fill() {
    unpacker.reserve_buffer(kReadChunk);
    for (;;) {
      const ssize_t n = ::read(fd, unpacker.buffer(), unpacker.buffer_capacity());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw Error(name + ": read failed: " + std::strerror(errno));
      if (n == 0) {
        eof = true;
      } else {
        unpacker.buffer_consumed(static_cast<std::size_t>(n));
      }
      return;
    }
  }

  // The next top-level value and its byte offset; false at a clean end.
  bool read_object(msgpack::object_handle& handle, std::uint64_t& at, std::uint64_t record) {
    while (!complete(record)) {
      if (eof) {
        if (unpacker.nonparsed_size() == 0) return false;
        throw Error(where(record, offset) + "truncated: the input ends at byte " +
                    std::to_string(offset + unpacker.nonparsed_size()) +
                    " inside this value (was the writer interrupted?)");
      }
      fill();
    }
    at = offset;
    try {
      if (!unpacker.next(handle)) throw Error(where(record, offset) + "incomplete msgpack value");
    } catch (const msgpack::depth_size_overflow&) {
      throw Error(where(record, offset) + "msgpack values nested deeper than " +
                  std::to_string(kMaxDepth) + " levels");
    } catch (const msgpack::unpack_error& e) {
      throw Error(where(record, offset) + "malformed msgpack: " + e.what());
    }
    offset += scan_offset;
    scan_offset = 0;
    pending = 1;
    scanned_values = 0;
    return true;
  }

  void to_record(const msgpack::object& map, std::uint64_t record, std::uint64_t at, Record& out) {
    if (map.type != msgpack::type::MAP) {
      throw Error(where(record, at) + "top-level value is " + type_name(map.type) +
                  ", not a map: a vpet stream is a sequence of msgpack maps");
    }
    out.tensors.clear();
    out.fields = nlohmann::json::object();
    std::unordered_set<std::string> names;
    try {
      for (std::uint32_t i = 0; i < map.via.map.size; ++i) {
        flatten(map.via.map.ptr[i].val, map_key(map.via.map.ptr[i].key), out, names);
      }
    } catch (const Error& e) {
      throw Error(where(record, at) + e.what());
    }
  }

  // The value of a map's "format" key ("vpet" for a header, "vpet-end" for
  // an end record), or "".
  static std::string_view format_of(const msgpack::object& map) {
    const auto text = [](const msgpack::object& o) {
      if (o.type == msgpack::type::STR) return std::string_view(o.via.str.ptr, o.via.str.size);
      if (o.type == msgpack::type::BIN) return std::string_view(o.via.bin.ptr, o.via.bin.size);
      return std::string_view();
    };
    if (map.type != msgpack::type::MAP) return {};
    for (std::uint32_t i = 0; i < map.via.map.size; ++i) {
      if (text(map.via.map.ptr[i].key) == "format") return text(map.via.map.ptr[i].val);
    }
    return {};
  }

  // The end record: it must count the records that came, and nothing may follow it.
  void finish(const msgpack::object& map, std::uint64_t at) {
    const std::uint64_t number = records + 1;
    try {
      end = to_json(map);
    } catch (const Error& e) {
      throw Error(where(number, at) + "end record: " + e.what());
    }
    const nlohmann::json& count = end["records"];
    if (!count.is_number_unsigned() || count.get<std::uint64_t>() != records) {
      throw Error(where(number, at) + "the end record counts " + count.dump() + " records, but " +
                  std::to_string(records) + " came");
    }
    msgpack::object_handle after;
    std::uint64_t after_at = 0;
    if (read_object(after, after_at, number)) {
      throw Error(where(number, after_at) + "data after the end record");
    }
    ended = true;
  }

  void read_header() {
    std::uint64_t at = 0;
    if (!read_object(first, at, 0)) {
      throw Error(name + ": empty input: expected a vpet header (or msgpack maps)");
    }
    const msgpack::object& object = first.get();
    if (object.type != msgpack::type::MAP) {
      throw Error(name + ": byte 0: the first value is " + type_name(object.type) +
                  ", not a map: this is not a vpet stream");
    }
    if (format_of(object) != "vpet") {
      first_pending = true;
      first_offset = at;
      return;
    }
    try {
      header = to_json(object);
    } catch (const Error& e) {
      throw Error(where(0, at) + e.what());
    }
    first = msgpack::object_handle();
    const auto& version = header["version"];
    if (!version.is_number_integer() || version.get<std::int64_t>() < kOldestFormatVersion ||
        version.get<std::int64_t>() > kFormatVersion) {
      throw Error(where(0, at) + "unsupported vpet format version " + version.dump() +
                  " (this vpet reads versions " + std::to_string(kOldestFormatVersion) + " to " +
                  std::to_string(kFormatVersion) + "; a newer vpet may read it)");
    }
    // The promise of an end record is the reader's business, not the
    // consumer's: it is not passed on (a header copied into another file
    // must not promise one for it).
    if (header.contains(kEndRecordKey)) {
      if (!header[kEndRecordKey].is_boolean()) {
        throw Error(where(0, at) + "'" + kEndRecordKey + "' must be true or false");
      }
      expects_end = header[kEndRecordKey].get<bool>() && version.get<std::int64_t>() >= 2;
      header.erase(kEndRecordKey);
    }
    if (!header.contains("kind") || !header["kind"].is_string()) {
      throw Error(where(0, at) + "the header has no 'kind' string");
    }
    header_present = true;
  }
};

StreamReader::StreamReader(const std::string& path) : impl_(std::make_unique<Impl>()) {
  if (path == "-") {
    impl_->fd = STDIN_FILENO;
    impl_->name = "standard input";
    if (isatty(STDIN_FILENO)) {
      throw UsageError("refusing to read binary data from a terminal; give a file or a pipe");
    }
  } else {
    impl_->name = path;
    impl_->fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (impl_->fd < 0) throw Error(path + ": cannot open: " + std::strerror(errno));
    impl_->owns_fd = true;
  }
  try {
    impl_->read_header();
  } catch (...) {
    if (impl_->owns_fd) ::close(impl_->fd);
    throw;
  }
}

StreamReader::~StreamReader() {
  if (impl_->owns_fd) ::close(impl_->fd);
}

bool StreamReader::has_header() const {
  return impl_->header_present;
}

const nlohmann::json& StreamReader::header() const {
  if (!impl_->header_present) {
    throw Error(impl_->name +
                ": not a vpet stream: the first map has no format \"vpet\" (a plain msgpack "
                "file is read as records only)");
  }
  return impl_->header;
}

void StreamReader::require_kind(const std::string& kind) const {
  require_kind(std::vector<std::string>{kind});
}

void StreamReader::require_kind(const std::vector<std::string>& kinds) const {
  const std::string& have = header()["kind"].get_ref<const std::string&>();
  std::string wanted;
  for (const std::string& kind : kinds) {
    if (have == kind) return;
    wanted += (wanted.empty() ? "'" : " or '") + kind + "'";
  }
  throw Error(impl_->name + ": this is a '" + have + "' stream, but a " + wanted +
              " stream is needed");
}

bool StreamReader::next(Record& record) {
  Impl& s = *impl_;
  if (s.failed) throw Error(s.name + ": cannot read on after an earlier error");
  if (s.ended) return false;
  try {
    const std::uint64_t number = s.records + 1;
    if (s.first_pending) {
      s.first_pending = false;
      s.to_record(s.first.get(), number, s.first_offset, record);
      s.first = msgpack::object_handle();
    } else {
      msgpack::object_handle handle;
      std::uint64_t at = 0;
      if (!s.read_object(handle, at, number)) {
        if (!s.expects_end) return false;
        throw Error(s.name + ": the stream ends after " + std::to_string(s.records) +
                    " record(s) without its end record: its writer stopped early (in a pipe: "
                    "did the program before this one fail?)");
      }
      if (s.expects_end && Impl::format_of(handle.get()) == kEndRecordFormat) {
        s.finish(handle.get(), at);
        return false;
      }
      s.to_record(handle.get(), number, at, record);
    }
    s.records = number;
    return true;
  } catch (...) {
    s.failed = true;
    throw;
  }
}

const std::string& StreamReader::name() const {
  return impl_->name;
}

std::uint64_t StreamReader::records_read() const {
  return impl_->records;
}

const nlohmann::json& StreamReader::end_record() const {
  return impl_->end;
}

void StreamReader::check_samples(std::uint64_t counted) const {
  const nlohmann::json& samples = impl_->end.value("samples", nlohmann::json());
  if (samples.is_null()) return;
  if (!samples.is_number_unsigned() || samples.get<std::uint64_t>() != counted) {
    throw Error(impl_->name + ": the end record counts " + samples.dump() + " samples, but " +
                std::to_string(counted) + " came");
  }
}

void write_one_shot(const std::string& path, const nlohmann::json& header, const Record& record) {
  StreamWriter writer(path, header, StreamWriter::Shape::kOneShot);
  writer.write(record);
  writer.close();
}

void write_one_shot(AtomicOutput& output, const nlohmann::json& header, const Record& record) {
  StreamWriter writer(output, header, StreamWriter::Shape::kOneShot);
  writer.write(record);
  writer.close();
}

OneShot read_one_shot(const std::string& path, const std::string& kind) {
  return read_one_shot(path, std::vector<std::string>{kind});
}

OneShot read_one_shot(const std::string& path, const std::vector<std::string>& kinds) {
  StreamReader reader(path);
  reader.require_kind(kinds);
  const std::string kind = reader.header()["kind"].get<std::string>();
  OneShot file{reader.header(), {}, reader.name()};
  if (!reader.next(file.record))
    throw Error(reader.name() + ": the " + kind + " file has no record");
  Record extra;
  if (reader.next(extra)) {
    throw Error(reader.name() + ": a " + kind + " file holds one record, this one more");
  }
  return file;
}

}  // namespace vpet::io
