#include "vpet/proto/token_stream.h"

#include <algorithm>

#include "vpet/error.h"
#include "vpet/io/tensor_text.h"

namespace vpet::proto {
namespace {

bool is_count(const nlohmann::json& value) {
  return value.is_number_integer() && value.get<std::int64_t>() >= 0;
}

}  // namespace

TokenStream::TokenStream(const std::string& path) : reader_(path) {
  const std::string& input = reader_.name();
  if (!reader_.has_header()) {
    throw Error(input +
                " is not a vpet stream (no header); make one with vit-extract --feature "
                "tokens --layers all");
  }
  const std::string kind = reader_.header().value("kind", std::string());
  if (kind != "tokens") {
    throw Error(input + ": this is a '" + kind +
                "' stream, but a 'tokens' stream is needed (vit-extract --feature tokens "
                "--layers all)");
  }
  const nlohmann::json& header = reader_.header();
  const nlohmann::json layers = header.value("layers", nlohmann::json());
  if (!layers.is_array() || layers.empty() ||
      !std::all_of(layers.begin(), layers.end(), is_count)) {
    throw Error(input + ": the header's 'layers' is not a list of layer numbers");
  }
  layers_ = layers.get<std::vector<std::int64_t>>();
  const nlohmann::json prefix = header.value("prefix_tokens", nlohmann::json());
  if (!is_count(prefix)) {
    throw Error(input + ": the header's 'prefix_tokens' is missing or not a count");
  }
  prefix_ = prefix.get<std::int64_t>();
  select_layers(layers_);
}

std::int64_t TokenStream::backbone_depth() const {
  const nlohmann::json backbone = header().value("backbone", nlohmann::json());
  if (!backbone.is_object() || !backbone.contains("depth") ||
      !backbone["depth"].is_number_integer() || backbone["depth"].get<std::int64_t>() < 1) {
    throw Error(name() + ": the header describes no backbone depth ('backbone': {'depth': ...})");
  }
  // Deep prompts need layers 0..depth-1 in the stream: a depth beyond the
  // layers it lists is refused before anything is sized from it.
  const std::int64_t depth = backbone["depth"].get<std::int64_t>();
  if (depth > std::int64_t(layers_.size())) {
    throw Error(name() + ": the header's backbone depth " + std::to_string(depth) +
                " exceeds the " + std::to_string(layers_.size()) +
                " layers the stream holds; run vit-extract with --layers all");
  }
  return depth;
}

void TokenStream::select_layers(const std::vector<std::int64_t>& layers) {
  std::vector<std::int64_t> positions;
  for (std::int64_t layer : layers) {
    const auto found = std::find(layers_.begin(), layers_.end(), layer);
    if (found == layers_.end()) {
      throw Error(name() + " has no layer " + std::to_string(layer) + " (it holds layers " +
                  nlohmann::json(layers_).dump() + "); run vit-extract with --layers all");
    }
    positions.push_back(found - layers_.begin());
  }
  selected_ = positions;
}

void TokenStream::check_shape(const torch::Tensor& features) {
  const std::string where = name() + ": record " + std::to_string(records_read()) + ": ";
  const std::string shape = io::shape_string(features.sizes());
  if (features.dim() != 4 || features.size(1) != std::int64_t(layers_.size())) {
    throw Error(where + "'features' is " + shape + ", expected [batch, " +
                std::to_string(layers_.size()) +
                " layers, tokens, width] as the header's layers say");
  }
  if (tokens_ == 0) {
    if (features.size(2) <= prefix_) {
      throw Error(where + "'features' is " + shape + ": no patch tokens after the " +
                  std::to_string(prefix_) + " prefix tokens");
    }
    const nlohmann::json backbone = header().value("backbone", nlohmann::json::object());
    const nlohmann::json width =
        backbone.is_object() ? backbone.value("width", nlohmann::json()) : nlohmann::json();
    if (width.is_number_integer() && width.get<std::int64_t>() != features.size(3)) {
      throw Error(where + "'features' is " + shape + ", but the header's backbone is " +
                  width.dump() + " wide");
    }
    tokens_ = features.size(2);
    patches_ = tokens_ - prefix_;
    width_ = features.size(3);
  } else if (features.size(2) != tokens_ || features.size(3) != width_) {
    throw Error(where + "'features' is " + shape + ", but the records before it had " +
                std::to_string(tokens_) + " tokens of width " + std::to_string(width_));
  }
}

bool TokenStream::next(std::vector<torch::Tensor>& patches) {
  io::Record record;
  if (!reader_.next(record)) {
    reader_.check_samples(static_cast<std::uint64_t>(samples_));
    return false;
  }
  const torch::Tensor* features = record.find_tensor("features");
  if (!features) {
    throw Error(name() + ": record " + std::to_string(records_read()) +
                " has no 'features' tensor");
  }
  check_shape(*features);
  samples_ += features->size(0);
  const torch::Tensor tokens = features->to(torch::kFloat32);
  patches.clear();
  for (std::int64_t position : selected_) {
    patches.push_back(tokens.select(1, position).narrow(1, prefix_, patches_));
  }
  return true;
}

}  // namespace vpet::proto
