// Tensors in msgpack, encoded the way Python's msgpack_numpy (0.4.8) encodes
// a numpy ndarray, so that `msgpack_numpy.unpackb` reads vpet output untouched
// (vpet-format(5)):
//
//   {b'nd': true, b'type': '<f4', b'kind': b'', b'shape': [2, 3], b'data': <bytes>}
//
// The five keys are msgpack bin (msgpack_numpy looks them up as bytes), `type`
// is numpy's dtype string as msgpack str, `data` the C-order little-endian
// bytes. bfloat16 has no numpy dtype string; it is written as 'bfloat16', the
// name ml_dtypes registers with numpy, so Python reads it after
// `import ml_dtypes`.
//
// Decoding is more lenient: keys and `type` as str or bin, any byte order
// ('<', '>', '|', '='), numpy scalars ({nd: false}) as 0-d tensors, and
// Flax's ext type 1 (payload: msgpack [shape, dtype name, bytes]).
#pragma once

#include <torch/torch.h>

#include <msgpack.hpp>

#include <cstdint>
#include <string>

#include "vpet/error.h"

namespace vpet::io {

// The decoder and the stream format assume a little-endian host (every
// platform LibTorch supports); the bytes are copied as they are in memory.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "vpet assumes a little-endian host");

// numpy's dtype string for a supported dtype: '<f4' '<f2' '<f8' '<i8' '<i4'
// '|u1' '|b1', and 'bfloat16'. Throws vpet::Error for any other dtype.
std::string numpy_type_str(torch::ScalarType dtype);

// The tensor as it goes on the wire: detached, on the CPU, C-contiguous.
// Returns the tensor itself when it already is, so no copy is made.
torch::Tensor wire_tensor(const torch::Tensor& tensor);

// True for a msgpack-numpy map (a map with an `nd` key, str or bin, whose
// value is a boolean) and for Flax's ext type 1.
bool is_tensor(const msgpack::object& object);

// Decodes a msgpack-numpy map or a Flax ext 1 into a fresh CPU tensor (the
// payload is copied: it need not be aligned). Throws vpet::Error saying what
// is wrong: unsupported dtype, structured/object arrays (kind 'V'/'O'), a
// data size that does not match the shape.
torch::Tensor decode_tensor(const msgpack::object& object);

// Largest payload one msgpack bin can carry (bin32 length field).
constexpr std::uint64_t kMaxTensorBytes = 0xffffffffu;

// Packs `tensor` as a msgpack-numpy map. The payload goes from the tensor's
// memory straight to the packer's stream (pack_bin_body), without a copy
// when the tensor already is a contiguous CPU tensor.
template <typename Stream>
void pack_tensor(msgpack::packer<Stream>& packer, const torch::Tensor& tensor) {
  const torch::Tensor wire = wire_tensor(tensor);
  const std::string type = numpy_type_str(wire.scalar_type());
  const std::uint64_t bytes = wire.numel() * wire.element_size();
  if (bytes > kMaxTensorBytes) {
    throw Error("tensor of " + std::to_string(bytes) +
                " bytes is too large for one msgpack bin (at most 4 GiB - 1); split it");
  }
  packer.pack_map(5);
  packer.pack_bin(2);
  packer.pack_bin_body("nd", 2);
  packer.pack_true();
  packer.pack_bin(4);
  packer.pack_bin_body("type", 4);
  packer.pack(type);
  packer.pack_bin(4);
  packer.pack_bin_body("kind", 4);
  packer.pack_bin(0);
  packer.pack_bin(5);
  packer.pack_bin_body("shape", 5);
  packer.pack_array(static_cast<std::uint32_t>(wire.dim()));
  for (std::int64_t size : wire.sizes()) packer.pack_int64(size);
  packer.pack_bin(4);
  packer.pack_bin_body("data", 4);
  packer.pack_bin(static_cast<std::uint32_t>(bytes));
  // An empty tensor may have no storage at all: no pointer to hand on.
  if (bytes > 0) {
    packer.pack_bin_body(static_cast<const char*>(wire.data_ptr()),
                         static_cast<std::uint32_t>(bytes));
  }
}

}  // namespace vpet::io
