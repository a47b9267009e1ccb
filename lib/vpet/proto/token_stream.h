// A vit-extract tokens stream (vpet-format(5), kind "tokens"), read record
// by record as the patch tokens of chosen layers: the header's
// prefix_tokens (class token, registers) are dropped, the layers picked out
// of each record's "features" [B, L, T, D] by the header's layer numbers.
//
//   TokenStream in("-");
//   in.select_layers({0, 1, 2});
//   std::vector<torch::Tensor> patches;  // per layer, [B, N, D]
//   while (in.next(patches)) ...
#pragma once

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "vpet/io/stream.h"

namespace vpet::proto {

class TokenStream {
 public:
  // Opens `path` ("-": standard input) and reads its header. Throws
  // vpet::Error naming the input unless it is a tokens stream whose header
  // has the layer numbers and the prefix token count.
  explicit TokenStream(const std::string& path);

  const std::string& name() const { return reader_.name(); }
  const nlohmann::json& header() const { return reader_.header(); }
  // The layer numbers of the stream, in the order of the records' L axis.
  const std::vector<std::int64_t>& layers() const { return layers_; }
  // The depth of the backbone the header describes; vpet::Error if it does not.
  std::int64_t backbone_depth() const;

  // From now on next() gives these layers, in this order. Throws
  // vpet::Error naming the input and the first layer it lacks.
  void select_layers(const std::vector<std::int64_t>& layers);

  // The next record's patch tokens, one [B, N, D] float32 tensor per
  // selected layer (views into the record: nothing is copied); false at the
  // end of the input. Throws vpet::Error naming the input and record when
  // "features" is missing or its shape does not fit the header or the
  // records before it.
  bool next(std::vector<torch::Tensor>& patches);

  std::uint64_t records_read() const { return reader_.records_read(); }
  // Patch tokens per image and their width; 0 before the first record.
  std::int64_t patches_per_image() const { return patches_; }
  std::int64_t width() const { return width_; }

 private:
  // Throws unless `features` fits the header and the earlier records.
  void check_shape(const torch::Tensor& features);

  io::StreamReader reader_;
  std::vector<std::int64_t> layers_;
  std::int64_t prefix_ = 0;
  std::vector<std::int64_t> selected_;  // positions of the selected layers on the L axis
  std::int64_t tokens_ = 0;             // T, fixed by the first record
  std::int64_t patches_ = 0;            // N = T − prefix
  std::int64_t width_ = 0;              // D
  std::int64_t samples_ = 0;            // images read so far, for the end record
};

}  // namespace vpet::proto
