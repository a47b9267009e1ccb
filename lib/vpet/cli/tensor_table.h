// The table vpet-info prints: per tensor name, dtype, shape and min/max/mean,
// summed up over the records of a stream or listed record by record.
#pragma once

#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

namespace vpet::cli {

class TensorTable {
 public:
  // Adds a tensor. A name seen before joins its earlier rows along the first
  // dimension (records of one stream); its shape then shows the total.
  void add(const std::string& name, const torch::Tensor& tensor);
  bool empty() const { return rows_.empty(); }

  void print(std::ostream& out) const;
  // [{name, dtype, shape, min, max, mean}, ...]; shape null when the
  // records' shapes do not join; min/max/mean null for empty tensors.
  nlohmann::json to_json() const;

 private:
  struct Row {
    std::string name;
    std::string dtype;
    std::vector<std::int64_t> shape;
    bool shape_joins = true;
    double min = 0, max = 0, sum = 0;
    std::int64_t count = 0;  // elements seen
  };
  std::vector<Row> rows_;
};

}  // namespace vpet::cli
