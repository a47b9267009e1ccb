// A uniform sample of `capacity` distinct rows out of a stream of rows of
// unknown length, in constant memory (reservoir sampling, Vitter's
// Algorithm R): after n rows have been offered, every set of
// min(n, capacity) of them is equally likely to be the one held.
//
//   RowReservoir reservoir(20, seed);
//   for (each batch) reservoir.offer(tokens);   // [R, D]
//   torch::Tensor sample = reservoir.rows();    // [min(n, 20), D]
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "vpet/proto/random_source.h"

namespace vpet::proto {

class RowReservoir {
 public:
  RowReservoir(std::int64_t capacity, std::uint64_t seed);

  // Offers every row of `rows` [R, D], in order. All offers share D; the
  // kept rows are stored as float32 on the CPU, in storage that grows with
  // the rows held up to the capacity.
  void offer(const torch::Tensor& rows);

  // The rows held: [min(seen, capacity), D], in slot order (not the order
  // they were offered in). Undefined before the first offer.
  torch::Tensor rows() const;
  // Rows offered so far.
  std::int64_t seen() const { return seen_; }
  std::int64_t capacity() const { return capacity_; }

 private:
  // Grows the storage to hold min(rows, capacity) rows of `width`.
  void make_room(std::int64_t rows, std::int64_t width);

  std::int64_t capacity_;
  std::int64_t seen_ = 0;
  RandomSource random_;
  torch::Tensor slots_;  // [≤ capacity, D]
  // Per slot, the row of the current offer that replaces it (-1: none); kept
  // between offers so that an offer costs O(R), not O(capacity).
  std::vector<std::int64_t> replacement_;
};

}  // namespace vpet::proto
