#include "vpet/proto/reservoir.h"

#include <algorithm>
#include <stdexcept>

namespace vpet::proto {

RowReservoir::RowReservoir(std::int64_t capacity, std::uint64_t seed)
    : capacity_(capacity), random_(seed) {
  if (capacity < 1) throw std::invalid_argument("RowReservoir: capacity must be at least 1");
}

void RowReservoir::make_room(std::int64_t rows, std::int64_t width) {
  const std::int64_t needed = std::min(capacity_, rows);
  const std::int64_t have = slots_.defined() ? slots_.size(0) : 0;
  if (have >= needed) return;
  // Doubling: a large capacity costs memory only once the stream fills it.
  torch::Tensor grown = torch::empty({std::min(capacity_, std::max(needed, 2 * have)), width});
  if (have > 0) grown.narrow(0, 0, have).copy_(slots_);
  slots_ = grown;
  replacement_.resize(static_cast<std::size_t>(slots_.size(0)), -1);
}

void RowReservoir::offer(const torch::Tensor& rows) {
  if (rows.dim() != 2) throw std::invalid_argument("RowReservoir::offer: rows must be [R, D]");
  if (slots_.defined() && rows.size(1) != slots_.size(1)) {
    throw std::invalid_argument("RowReservoir::offer: rows changed width");
  }
  make_room(seen_ + rows.size(0), rows.size(1));
  // Algorithm R: row number t (from 0) fills slot t while the reservoir is
  // filling; afterwards it replaces a uniformly drawn slot j ≤ t when j falls
  // inside the reservoir. Decide for the whole offer first, then copy only
  // the rows that stay (a later row of the same offer wins its slot).
  std::vector<std::int64_t> touched;
  const std::int64_t count = rows.size(0);
  for (std::int64_t r = 0; r < count; ++r, ++seen_) {
    std::int64_t slot = seen_;
    if (seen_ >= capacity_) {
      slot = static_cast<std::int64_t>(random_.below(static_cast<std::uint64_t>(seen_) + 1));
      if (slot >= capacity_) continue;
    }
    if (replacement_[std::size_t(slot)] < 0) touched.push_back(slot);
    replacement_[std::size_t(slot)] = r;
  }
  if (touched.empty()) return;
  std::vector<std::int64_t> sources;
  sources.reserve(touched.size());
  for (std::int64_t slot : touched) {
    sources.push_back(replacement_[std::size_t(slot)]);
    replacement_[std::size_t(slot)] = -1;
  }
  const torch::Tensor source_rows =
      rows.index_select(0, torch::tensor(sources, torch::kInt64).to(rows.device()));
  slots_.index_copy_(0, torch::tensor(touched, torch::kInt64),
                     source_rows.to(torch::kCPU, torch::kFloat32));
}

torch::Tensor RowReservoir::rows() const {
  if (!slots_.defined()) return {};
  return slots_.narrow(0, 0, std::min(seen_, capacity_));
}

}  // namespace vpet::proto
