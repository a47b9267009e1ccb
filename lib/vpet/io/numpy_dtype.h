// numpy arrays as raw bytes, shared by the two readers that meet them: the
// msgpack-numpy tensor codec (tensor_codec.h) and .npy/.npz (npy.h).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string_view>
#include <vector>

namespace vpet::io {

// The dtypes vpet reads, for messages.
extern const char* const kSupportedDtypes;

// How a payload is laid out: the element type and whether it is big-endian.
struct NumpyType {
  torch::ScalarType dtype;
  bool big_endian;
};

// Accepts numpy dtype strings ('<f4', '>i8', '|u1', '=f2', 'f4'), the names
// numpy and Flax use ('float32', 'int64', 'bool'...) and 'bfloat16'. Throws
// vpet::Error naming the dtype and the supported ones.
NumpyType parse_numpy_type(std::string_view text);

// A fresh CPU tensor of `sizes` from `data`, which must hold exactly that many
// elements (copied: a buffer gives no alignment guarantee; big-endian data
// byte-swapped). Throws vpet::Error when the sizes overflow, the byte count
// differs, or a value is garbage (require_sane_values).
torch::Tensor tensor_from_bytes(NumpyType type, const std::vector<std::int64_t>& sizes,
                                std::string_view data);

// Throws vpet::Error naming the first element (flat index) that is NaN or
// infinite in a floating tensor, or a bool stored as a byte other than 0 or 1
// (`tensor` then still holds the bytes, as uint8, with `is_bool`).
void require_sane_values(const torch::Tensor& tensor, bool is_bool = false);

}  // namespace vpet::io
