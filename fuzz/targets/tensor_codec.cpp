// The tensor codec alone: any msgpack value that looks like a msgpack-numpy
// array or a Flax ext 1 is decoded.
#include <msgpack.hpp>

#include "fuzz/fuzz.h"
#include "vpet/io/tensor_codec.h"

VPET_FUZZ_TARGET(tensor_codec) {
  msgpack::object_handle handle;
  try {
    // Small limits: the unpacker is msgpack-c's; the codec is what is fuzzed.
    handle = msgpack::unpack(reinterpret_cast<const char*>(data), size, nullptr, nullptr,
                             msgpack::unpack_limit(64, 64, 1 << 20, 1 << 20, 64, 16));
  } catch (const std::exception&) {
    return 0;
  }
  const msgpack::object& object = handle.get();
  if (vpet::io::is_tensor(object)) {
    vpet::fuzz::expect_clean_failure([&] { (void)vpet::io::decode_tensor(object).sum(); });
  }
  return 0;
}
