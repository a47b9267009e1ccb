#include "vpet/model/fingerprint.h"

#include <cstdint>

#include "vpet/error.h"
#include "vpet/io/sha256.h"

namespace vpet::model {
namespace {

void update_u64(io::Sha256& hash, std::uint64_t value) {
  std::uint8_t bytes[8];
  for (int i = 0; i < 8; ++i) bytes[i] = std::uint8_t(value >> (8 * i));
  hash.update(bytes, 8);
}

}  // namespace

std::string backbone_fingerprint(const std::map<std::string, torch::Tensor>& canonical) {
  io::Sha256 hash;
  for (const auto& [name, tensor] : canonical) {  // std::map: ascending name order
    if (name.compare(0, 5, "head.") == 0) continue;
    hash.update(name.data(), name.size() + 1);  // the terminating NUL separates name and rank
    update_u64(hash, std::uint64_t(tensor.dim()));
    for (std::int64_t d : tensor.sizes()) update_u64(hash, std::uint64_t(d));
    const torch::Tensor values = tensor.detach().to(torch::kCPU, torch::kFloat32).contiguous();
    // Host byte order: every platform LibTorch ships for is little-endian.
    hash.update(values.data_ptr(), std::size_t(values.numel()) * sizeof(float));
  }
  return "sha256:" + hash.hex_digest().substr(0, 16);
}

std::string recorded_fingerprint(const nlohmann::json& header, const std::string& source) {
  const nlohmann::json* backbone =
      header.is_object() && header.contains("backbone") ? &header["backbone"] : nullptr;
  if (backbone && backbone->is_object() && backbone->contains("fingerprint") &&
      (*backbone)["fingerprint"].is_string() &&
      !(*backbone)["fingerprint"].get_ref<const std::string&>().empty()) {
    return (*backbone)["fingerprint"].get<std::string>();
  }
  throw Error(source +
              ": the header records no backbone fingerprint ('backbone': {'fingerprint': ...}), "
              "so it cannot be checked against the model; make it from the model with vpet's "
              "programs, or add the model's fingerprint (vpet-info MODEL shows it)");
}

}  // namespace vpet::model
