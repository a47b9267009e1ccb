// The safetensors weight format (huggingface/safetensors): a u64 little-endian
// header length N, N bytes of UTF-8 JSON
//   {"__metadata__": {str: str}, name: {"dtype", "shape", "data_offsets"}, ...}
// and a byte buffer holding every tensor row-major, back to back.
//
// The reader validates what the reference Rust implementation validates
// (header size, JSON, duplicate keys, dtypes, shapes, contiguous offsets,
// sizes, buffer length) and names the file and the tensor or byte offset in
// every message. The writer produces what the reference writer produces:
// header space-padded to a multiple of 8, tensors ordered by descending dtype
// size then name so that every tensor is naturally aligned.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace vpet::io {

// Named tensors in a fixed order plus the file's string metadata.
struct TensorMap {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  std::map<std::string, std::string> metadata;

  // nullptr when absent.
  const torch::Tensor* find(const std::string& name) const;
  bool contains(const std::string& name) const { return find(name) != nullptr; }
  // Appends; throws std::invalid_argument for a duplicate name.
  void add(std::string name, torch::Tensor tensor);
};

// One header entry, as stored.
struct SafetensorsEntry {
  std::string name;
  std::string dtype;  // "F32", "BF16", ...
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0;  // data_offsets, relative to the byte buffer
  std::uint64_t end = 0;
};

struct SafetensorsHeader {
  std::vector<SafetensorsEntry> entries;  // in data-offset order
  std::map<std::string, std::string> metadata;
  std::uint64_t buffer_offset = 0;  // file offset of the byte buffer: 8 + N
};

// Validates the header of `bytes` (a whole file held in memory). `source`
// names the file in messages. Throws vpet::Error.
SafetensorsHeader parse_safetensors_header(const std::uint8_t* bytes, std::size_t size,
                                           const std::string& source);

// Decodes a whole file held in memory into owned CPU tensors in their stored
// dtype. Throws vpet::Error.
TensorMap decode_safetensors(const std::uint8_t* bytes, std::size_t size,
                             const std::string& source);

// Maps the file and decodes it. Throws vpet::Error naming `path`.
TensorMap read_safetensors(const std::string& path);
// The header alone, reading only the first 8 + N bytes.
SafetensorsHeader read_safetensors_header(const std::string& path);

// The file's bytes. Tensors may live on any device and have any layout; they
// are stored contiguous. Throws vpet::Error for a dtype safetensors cannot
// hold, a duplicate name, or the reserved name "__metadata__".
std::string encode_safetensors(const TensorMap& map);
// Writes encode_safetensors(map) atomically (io/atomic_file.h); "-" is stdout.
void write_safetensors(const std::string& path, const TensorMap& map);
// The same into an output the caller commits (OutputSet).
class AtomicOutput;
void write_safetensors(AtomicOutput& out, const TensorMap& map);

}  // namespace vpet::io
