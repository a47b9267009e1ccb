#include "vpet/eval/predictions.h"

#include <algorithm>
#include <cstdio>

#include "vpet/error.h"
#include "vpet/io/atomic_file.h"
#include "vpet/io/stream.h"

namespace vpet::eval {
namespace {

// A path as one TSV field: the backslash, tab, newline and carriage return
// escaped (\\, \t, \n, \r), so every image stays one line of fixed columns.
std::string tsv_field(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// %.9g: a float32 reads back exactly.
void append_number(std::string& line, double value) {
  char text[32];
  std::snprintf(text, sizeof text, "\t%.9g", value);
  line += text;
}

}  // namespace

PredictionFormat parse_prediction_format(const std::string& name, const std::string& option) {
  if (name == "vpet") return PredictionFormat::kVpet;
  if (name == "tsv") return PredictionFormat::kTsv;
  throw UsageError(option + ": '" + name + "' is not one of vpet, tsv");
}

PredictionWriter::PredictionWriter(io::AtomicOutput& output, const PredictionOptions& options,
                                   const data::Dataset& dataset,
                                   const std::vector<std::string>& classes, nlohmann::json header)
    : output_(output),
      options_(options),
      classes_(std::int64_t(classes.size())),
      dataset_(dataset) {
  options_.top_k = std::min(options_.top_k, classes_);
  for (std::size_t i = 0; i < dataset.size(); ++i) sample_of_index_[dataset.sample(i).index] = i;
  if (options_.format == PredictionFormat::kTsv) {
    write_tsv_header();
    return;
  }
  header["classes"] = classes;
  header["num_classes"] = classes_;
  header["top_k"] = options_.top_k;
  header["logits"] = options_.logits;
  stream_ = std::make_unique<io::StreamWriter>(output_, header);
}

PredictionWriter::~PredictionWriter() = default;

void PredictionWriter::write_tsv_header() {
  std::string line = "index\tpath\tlabel\tprediction";
  for (std::int64_t k = 1; k <= options_.top_k; ++k) {
    line += "\ttop" + std::to_string(k) + "_class\ttop" + std::to_string(k) + "_prob";
  }
  if (options_.logits) {
    for (std::int64_t c = 0; c < classes_; ++c) line += "\tlogit_" + std::to_string(c);
  }
  line += '\n';
  output_.write(line.data(), line.size());
}

void PredictionWriter::write(const torch::Tensor& logits, const torch::Tensor& labels,
                             const torch::Tensor& index) {
  // The ranking Accuracy scores (float32 logits on the CPU), so the first
  // column agrees with peft-eval's top-1 even where probabilities tie.
  const torch::Tensor scores = logits.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  if (scores.dim() != 2 || scores.size(1) != classes_ || scores.size(0) != labels.size(0)) {
    throw Error("predictions: logits of shape [" + std::to_string(scores.size(0)) + ", " +
                std::to_string(scores.dim() == 2 ? scores.size(1) : -1) + "] for " +
                std::to_string(labels.size(0)) + " labels and " + std::to_string(classes_) +
                " classes");
  }
  const torch::Tensor top_classes = std::get<1>(scores.topk(options_.top_k, 1)).contiguous();
  const torch::Tensor top_probs = torch::softmax(scores, 1).gather(1, top_classes).contiguous();
  const torch::Tensor truth = labels.to(torch::kCPU, torch::kInt64).contiguous();
  const torch::Tensor where = index.to(torch::kCPU, torch::kInt64).contiguous();
  const std::int64_t batch = truth.size(0);
  const auto* at = where.data_ptr<std::int64_t>();
  const auto path = [&](std::int64_t i) -> const std::string& {
    return dataset_.sample(sample_of_index_.at(at[i])).path;
  };
  samples_ += batch;

  if (stream_) {
    io::Record record;
    nlohmann::json paths = nlohmann::json::array();
    for (std::int64_t i = 0; i < batch; ++i) paths.push_back(path(i));
    record.fields["paths"] = paths;
    record.tensors.emplace_back("index", where);
    record.tensors.emplace_back("labels", truth);
    record.tensors.emplace_back("prediction", top_classes.select(1, 0).contiguous());
    record.tensors.emplace_back("top_classes", top_classes);
    record.tensors.emplace_back("top_probs", top_probs);
    if (options_.logits) record.tensors.emplace_back("logits", scores);
    stream_->write(record);
    return;
  }
  const auto* classes = top_classes.data_ptr<std::int64_t>();
  const auto* probs = top_probs.data_ptr<float>();
  const auto* values = scores.data_ptr<float>();
  const auto* label = truth.data_ptr<std::int64_t>();
  std::string text;
  for (std::int64_t i = 0; i < batch; ++i) {
    const std::int64_t* top = classes + i * options_.top_k;
    text += std::to_string(at[i]) + '\t' + tsv_field(path(i)) + '\t' + std::to_string(label[i]) +
            '\t' + std::to_string(top[0]);
    for (std::int64_t k = 0; k < options_.top_k; ++k) {
      text += '\t' + std::to_string(top[k]);
      append_number(text, probs[i * options_.top_k + k]);
    }
    if (options_.logits) {
      for (std::int64_t c = 0; c < classes_; ++c) append_number(text, values[i * classes_ + c]);
    }
    text += '\n';
  }
  output_.write(text.data(), text.size());
  output_.flush();
}

void PredictionWriter::close() {
  if (stream_) stream_->close({{"samples", samples_}});
}

}  // namespace vpet::eval
