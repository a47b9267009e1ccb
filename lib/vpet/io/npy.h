// numpy's .npy array format (numpy/lib/format.py, "NEP 1"): the magic
// "\x93NUMPY", a major and minor version byte, a little-endian header length
// (u16 in version 1, u32 in versions 2 and 3), then that many bytes of an
// ASCII (version 3: UTF-8) Python dict literal
//   {'descr': '<f4', 'fortran_order': False, 'shape': (768, 3), }
// padded with spaces and a newline, then the array's bytes.
//
// The reader validates what numpy's own reader checks and what the data must
// hold before anything is allocated: the magic and version, a header that is
// exactly such a dict (no other keys, Python literals only: nothing is
// evaluated), a dtype vpet can hold, a shape whose byte count the data holds
// exactly. Messages name the source and the place.
#pragma once

#include <torch/torch.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace vpet::io {

struct NpyHeader {
  std::string descr;  // numpy's dtype string, e.g. "<f4", "|u1"
  bool fortran_order = false;
  std::vector<std::int64_t> shape;
  std::size_t data_offset = 0;  // where the array's bytes start
};

// Parses and validates the header of a .npy held in memory. Throws vpet::Error
// naming `source`.
NpyHeader parse_npy_header(const std::uint8_t* bytes, std::size_t size, const std::string& source);

// Decodes a whole .npy held in memory into an owned CPU tensor of its stored
// dtype, one of those the msgpack codec reads (numpy_dtype.h: float16/32/64,
// int32/64, uint8, bool). Big-endian data is byte-swapped; Fortran order is
// transposed into row-major. Any other dtype (complex, strings, objects,
// numpy's '<V2' that ml_dtypes' bfloat16 saves as) is refused by name.
// Throws vpet::Error naming `source`.
torch::Tensor decode_npy(const std::uint8_t* bytes, std::size_t size, const std::string& source);

}  // namespace vpet::io
