#include "vpet/train/head.h"

#include "vpet/model/trunc_normal.h"

namespace vpet::train {

torch::nn::Linear make_head(std::int64_t features, std::int64_t classes,
                            torch::Generator& generator) {
  torch::nn::Linear head(torch::nn::LinearOptions(features, classes));
  model::trunc_normal_(head->weight, 0.02, generator);
  torch::NoGradGuard no_grad;
  head->bias.zero_();
  return head;
}

}  // namespace vpet::train
