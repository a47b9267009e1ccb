// vpet files and streams (vpet-format(5)): a sequence of msgpack maps, the
// first a header, every later one a record of the header's kind.
//
//   StreamWriter out("-", make_header("features", "vit-extract", args));
//   out.write(record);   // packed and flushed: a pipe consumer starts at once
//   out.close({{"samples", n}});  // the end record; the file appears only now
//
//   StreamReader in("features.vpet");
//   in.require_kind("features");
//   Record r;
//   while (in.next(r)) use(r.tensor("features"));
//   in.check_samples(n);  // the count the end record gives, if it gives one
//
// A stream ends with an end record, {"format": "vpet-end", "records": N, ...}:
// a stream cut short between two records (a producer that failed in a pipe)
// is refused instead of read as a shorter one. One-shot files (a header and
// exactly one record) need none: a missing record is refused by itself.
#pragma once

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace vpet::io {

class AtomicOutput;

// Version 2 added the end record of streams; version 1 files (no end
// record) are still read.
constexpr int kFormatVersion = 2;
constexpr int kOldestFormatVersion = 1;

// Largest record (or header) a reader accepts. Far above any real record;
// it bounds what a corrupt or hostile length field can make the reader buffer.
constexpr std::uint64_t kMaxRecordBytes = std::uint64_t{8} << 30;
// Most msgpack values (tensor payloads count one each) in one record or
// header. vpet's own hold a few per tensor, a header at most a class list
// (2^18 names); decoding costs tens of bytes a value, so this bounds what a
// file of one-byte values (an array of nils) makes a reader allocate.
constexpr std::uint64_t kMaxRecordValues = std::uint64_t{1} << 20;

// One record: named tensors, in the order they were written, and any other
// values as a JSON object. Tensors nested in maps of foreign files (Flax
// state dicts, {"model": {"w": ...}}) are flattened to dotted names
// ("model.w"); plain values alongside them are flattened the same way.
struct Record {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  nlohmann::json fields = nlohmann::json::object();

  // The tensor called `name`; throws vpet::Error naming the missing key and
  // the tensors the record does have.
  const torch::Tensor& tensor(const std::string& name) const;
  // The tensor called `name`, or nullptr.
  const torch::Tensor* find_tensor(const std::string& name) const;
};

// A header with the fixed keys: format "vpet", version, kind, program,
// program_version (VPET_VERSION) and args. Kind-specific keys are added by
// the caller (header["backbone"] = ...). There is deliberately no timestamp:
// the same run must give the same bytes.
nlohmann::json make_header(const std::string& kind, const std::string& program,
                           const std::vector<std::string>& args);

// Writes a header and then records to a file (atomically: temporary +
// rename on close()) or to standard output ("-"; binary to a terminal is
// refused). Destroying a writer without close() removes the temporary.
class StreamWriter {
 public:
  enum class Shape {
    kStream,   // any number of records, then the end record
    kOneShot,  // exactly one record, no end record (write_one_shot)
    // One piece of a stream (vit-extract --shard): the bytes the whole
    // stream has from its header (kFirstPiece: the header and records), its
    // middle (kMiddlePiece: records) or to its end (kLastPiece: records and
    // the end record, whose summary gives the whole stream's counts), so
    // that the pieces concatenated in order are the stream.
    kFirstPiece,
    kMiddlePiece,
    kLastPiece,
  };
  // Throws vpet::Error if the header lacks format "vpet" or a string kind.
  StreamWriter(const std::string& path, const nlohmann::json& header, Shape shape = Shape::kStream);
  // The same into an output the caller owns and commits (OutputSet: several
  // outputs of one run appear together); close() then only finishes the stream.
  StreamWriter(AtomicOutput& output, const nlohmann::json& header, Shape shape = Shape::kStream);
  ~StreamWriter();
  StreamWriter(const StreamWriter&) = delete;
  StreamWriter& operator=(const StreamWriter&) = delete;

  // Packs the fields (sorted by name), then the tensors (in order), and
  // flushes. Throws vpet::Error on an I/O failure, a name used twice, an
  // undefined tensor or an unsupported dtype.
  void write(const Record& record);
  // Writes the end record (a stream's; `summary` adds its keys to it, e.g.
  // {"samples": n}), flushes and moves the file into place. Further writes throw.
  void close(const nlohmann::json& summary = nlohmann::json::object());

  std::uint64_t records_written() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Reads a vpet file or stream ("-" = standard input) record by record, as the
// bytes arrive: a record is returned as soon as its last byte is in, without
// waiting for more input (a pipe consumer keeps pace with its producer). A file
// whose first map has no format "vpet" (any msgpack_numpy file Python wrote)
// is read header-less: that first map is record 1.
//
// Errors (vpet::Error) name the input, the record and its byte offset: a
// truncated stream, malformed msgpack, a top-level value that is not a map, a
// bad tensor, a header of another version, a record over kMaxRecordBytes or
// kMaxRecordValues.
class StreamReader {
 public:
  // Opens the input and reads the first map (the header, if it is one).
  explicit StreamReader(const std::string& path);
  ~StreamReader();
  StreamReader(const StreamReader&) = delete;
  StreamReader& operator=(const StreamReader&) = delete;

  // Whether the input starts with a vpet header.
  bool has_header() const;
  // The header; throws vpet::Error saying the input is not a vpet stream
  // when it has none.
  const nlohmann::json& header() const;
  // Throws vpet::Error unless the header exists and its kind is `kind`
  // (or one of `kinds`).
  void require_kind(const std::string& kind) const;
  void require_kind(const std::vector<std::string>& kinds) const;

  // Reads the next record into `record` (replacing its contents); false at
  // the end of the input. A version-2 stream must end with its end record,
  // and the end record must count the records that came: otherwise this
  // throws vpet::Error naming the input and how many records came.
  bool next(Record& record);

  // After next() returned false: the end record ({} for inputs without one).
  const nlohmann::json& end_record() const;
  // After next() returned false: throws vpet::Error naming the input unless
  // `counted` (samples the caller read) equals the end record's "samples",
  // where it gives one.
  void check_samples(std::uint64_t counted) const;

  // "standard input" or the path, as used in messages.
  const std::string& name() const;
  // Records returned so far (the header not counted).
  std::uint64_t records_read() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A one-shot file: a header and exactly one record (adapter bundles,
// checkpoints, plans, prompts, reports).
struct OneShot {
  nlohmann::json header;
  Record record;
  std::string name;  // the input's name, for messages
};
// Writes atomically: the file appears only when complete.
void write_one_shot(const std::string& path, const nlohmann::json& header, const Record& record);
// Into an output the caller commits.
void write_one_shot(AtomicOutput& output, const nlohmann::json& header, const Record& record);
// Throws vpet::Error naming the file unless it holds a header of `kind`
// followed by exactly one record.
OneShot read_one_shot(const std::string& path, const std::string& kind);
// The same for a file of any of `kinds` (header()["kind"] says which).
OneShot read_one_shot(const std::string& path, const std::vector<std::string>& kinds);

}  // namespace vpet::io
