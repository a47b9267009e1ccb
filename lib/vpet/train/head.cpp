#include "vpet/train/head.h"

#include <cmath>
#include <cstdlib>

#include "vpet/error.h"
#include "vpet/model/trunc_normal.h"

namespace vpet::train {
namespace {

// The STD of "NAME:STD"; throws for a missing, malformed or non-positive one.
double parse_std(const std::string& text, const std::string& name) {
  const std::string usage = "--head-init: '" + text + "' is not " + name +
                            ":STD with a positive STD (e.g. " + name + ":0.02)";
  if (text.size() <= name.size() + 1 || text[name.size()] != ':') throw UsageError(usage);
  const std::string number = text.substr(name.size() + 1);
  char* end = nullptr;
  const double value = std::strtod(number.c_str(), &end);
  if (*end != '\0' || !(value > 0.0) || !std::isfinite(value)) throw UsageError(usage);
  return value;
}

}  // namespace

std::string HeadInit::describe() const {
  char number[32];
  std::snprintf(number, sizeof number, "%g", std);
  switch (weight) {
    case Weight::kTruncNormal:
      return std::string("trunc-normal:") + number;
    case Weight::kNormal:
      return std::string("normal:") + number;
    case Weight::kKaimingFanOut:
      return "kaiming-fan-out";
  }
  return "?";
}

HeadInit parse_head_init(const std::string& weight, const std::string& bias) {
  HeadInit init;
  if (weight == "kaiming-fan-out") {
    init.weight = HeadInit::Weight::kKaimingFanOut;
  } else if (weight == "trunc-normal") {
    init.weight = HeadInit::Weight::kTruncNormal;
  } else if (weight.rfind("trunc-normal:", 0) == 0) {
    init.weight = HeadInit::Weight::kTruncNormal;
    init.std = parse_std(weight, "trunc-normal");
  } else if (weight.rfind("normal:", 0) == 0) {
    init.weight = HeadInit::Weight::kNormal;
    init.std = parse_std(weight, "normal");
  } else {
    throw UsageError("--head-init: '" + weight +
                     "' is not one of trunc-normal[:STD], normal:STD, kaiming-fan-out");
  }
  if (bias != "zero" && bias != "uniform") {
    throw UsageError("--head-bias: '" + bias + "' is not one of zero, uniform");
  }
  init.uniform_bias = bias == "uniform";
  return init;
}

torch::nn::Linear make_head(std::int64_t features, std::int64_t classes,
                            torch::Generator& generator, const HeadInit& init) {
  torch::nn::Linear head(torch::nn::LinearOptions(features, classes));
  torch::NoGradGuard no_grad;
  switch (init.weight) {
    case HeadInit::Weight::kTruncNormal:
      model::trunc_normal_(head->weight, init.std, generator);
      break;
    case HeadInit::Weight::kNormal:
      head->weight.normal_(0.0, init.std, generator);
      break;
    case HeadInit::Weight::kKaimingFanOut:
      // gain √2 (a = 0) over √fan_out, fan_out = the classes.
      head->weight.normal_(0.0, std::sqrt(2.0 / double(classes)), generator);
      break;
  }
  if (init.uniform_bias) {
    const double bound = 1.0 / std::sqrt(double(features));
    head->bias.uniform_(-bound, bound, generator);
  } else {
    head->bias.zero_();
  }
  return head;
}

}  // namespace vpet::train
