// How tensors are named in messages and tables: shapes as "[2304, 768]",
// dtypes by numpy's names ("float32", "bfloat16"), which users of both Python
// and vpet read without translation.
#pragma once

#include <torch/torch.h>

#include <string>

namespace vpet::io {

std::string shape_string(c10::IntArrayRef shape);
std::string dtype_name(torch::ScalarType dtype);

}  // namespace vpet::io
