// Per-image outputs of an evaluation (peft-eval --predictions), for
// ensembling, calibration and error analysis: each image's index, path and
// label, the predicted class, the top-k classes with their softmax
// probabilities and, if asked, the logits. Written as a vpet stream of kind
// "predictions" (vpet-format(5)), one record per batch, or as TSV, one line
// per image.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>

#include "vpet/data/dataset.h"

namespace vpet::io {
class AtomicOutput;
class StreamWriter;
}  // namespace vpet::io

namespace vpet::eval {

enum class PredictionFormat { kVpet, kTsv };

// "vpet" or "tsv"; throws vpet::UsageError naming `option` otherwise.
PredictionFormat parse_prediction_format(const std::string& name, const std::string& option);

struct PredictionOptions {
  PredictionFormat format = PredictionFormat::kVpet;
  std::int64_t top_k = 5;  // capped at the number of classes
  bool logits = false;     // also every class's logit
};

class PredictionWriter {
 public:
  // `header`: a vpet header (io::make_header("predictions", ...)) with the
  // caller's keys; the writer adds classes, num_classes, top_k and logits.
  // Unused for TSV. `classes`: the task's class names, in logit order.
  PredictionWriter(io::AtomicOutput& output, const PredictionOptions& options,
                   const data::Dataset& dataset, const std::vector<std::string>& classes,
                   nlohmann::json header);
  ~PredictionWriter();
  PredictionWriter(const PredictionWriter&) = delete;
  PredictionWriter& operator=(const PredictionWriter&) = delete;

  // One batch: logits [B, classes] (any device and floating dtype), labels
  // and index int64 [B] as the loader gave them.
  void write(const torch::Tensor& logits, const torch::Tensor& labels, const torch::Tensor& index);
  // The stream's end record (with the image count); the caller commits the output.
  void close();

 private:
  void write_tsv_header();

  io::AtomicOutput& output_;
  PredictionOptions options_;
  std::int64_t classes_;
  const data::Dataset& dataset_;
  std::unordered_map<std::int64_t, std::size_t> sample_of_index_;  // listing index -> sample
  std::unique_ptr<io::StreamWriter> stream_;                       // kVpet only
  std::int64_t samples_ = 0;
};

}  // namespace vpet::eval
