#include "vpet/cli/tensor_table.h"

#include <algorithm>
#include <cstdio>

#include "vpet/io/tensor_text.h"

namespace vpet::cli {
namespace {

std::string number_text(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.6g", value);
  return text;
}

}  // namespace

void TensorTable::add(const std::string& name, const torch::Tensor& tensor) {
  auto found =
      std::find_if(rows_.begin(), rows_.end(), [&](const Row& row) { return row.name == name; });
  std::vector<std::int64_t> shape(tensor.sizes().begin(), tensor.sizes().end());
  if (found == rows_.end()) {
    rows_.push_back(Row{name, io::dtype_name(tensor.scalar_type()), shape});
    found = rows_.end() - 1;
  } else {
    Row& row = *found;
    bool same_tail = shape.size() == row.shape.size() && !shape.empty() &&
                     std::equal(shape.begin() + 1, shape.end(), row.shape.begin() + 1);
    if (same_tail && row.shape_joins) {
      row.shape[0] += shape[0];
    } else {
      row.shape_joins = false;
    }
    if (row.dtype != io::dtype_name(tensor.scalar_type())) row.dtype = "mixed";
  }
  if (tensor.numel() == 0) return;
  // float64 statistics: exact for every stored dtype, NaN propagates as NaN.
  torch::Tensor values = tensor.to(torch::kFloat64);
  double min = values.min().item<double>();
  double max = values.max().item<double>();
  Row& row = *found;
  if (row.count == 0) {
    row.min = min;
    row.max = max;
  } else {
    row.min = std::min(row.min, min);
    row.max = std::max(row.max, max);
  }
  row.sum += values.sum().item<double>();
  row.count += tensor.numel();
}

void TensorTable::print(std::ostream& out) const {
  std::vector<std::vector<std::string>> cells = {{"name", "dtype", "shape", "min", "max", "mean"}};
  for (const Row& row : rows_) {
    bool has_values = row.count > 0;
    cells.push_back(
        {row.name, row.dtype, row.shape_joins ? io::shape_string(row.shape) : "(varies)",
         has_values ? number_text(row.min) : "-", has_values ? number_text(row.max) : "-",
         has_values ? number_text(row.sum / row.count) : "-"});
  }
  std::vector<std::size_t> widths(cells[0].size(), 0);
  for (const auto& line : cells) {
    for (std::size_t c = 0; c < line.size(); ++c) widths[c] = std::max(widths[c], line[c].size());
  }
  for (const auto& line : cells) {
    std::string text;
    for (std::size_t c = 0; c < line.size(); ++c) {
      text += line[c];
      if (c + 1 < line.size()) text += std::string(widths[c] - line[c].size() + 2, ' ');
    }
    out << text << "\n";
  }
}

nlohmann::json TensorTable::to_json() const {
  nlohmann::json rows = nlohmann::json::array();
  for (const Row& row : rows_) {
    bool has_values = row.count > 0;
    rows.push_back({{"name", row.name},
                    {"dtype", row.dtype},
                    {"shape", row.shape_joins ? nlohmann::json(row.shape) : nlohmann::json()},
                    {"min", has_values ? nlohmann::json(row.min) : nlohmann::json()},
                    {"max", has_values ? nlohmann::json(row.max) : nlohmann::json()},
                    {"mean", has_values ? nlohmann::json(row.sum / row.count) : nlohmann::json()}});
  }
  return rows;
}

}  // namespace vpet::cli
