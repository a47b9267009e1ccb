#include "vpet/model/config.h"

#include "vpet/error.h"

namespace vpet::model {

const char* activation_name(Activation act) {
  switch (act) {
    case Activation::Gelu:
      return "gelu";
    case Activation::GeluTanh:
      return "gelu-tanh";
    case Activation::QuickGelu:
      return "quick-gelu";
  }
  return "?";
}

Activation parse_activation(const std::string& name, const std::string& option) {
  for (Activation act : {Activation::Gelu, Activation::GeluTanh, Activation::QuickGelu}) {
    if (name == activation_name(act)) return act;
  }
  throw UsageError(option + ": '" + name + "' is not one of gelu, gelu-tanh, quick-gelu");
}

const char* pool_name(Pool pool) {
  switch (pool) {
    case Pool::Token:
      return "token";
    case Pool::Avg:
      return "avg";
    case Pool::AvgNorm:
      return "avg-norm";
  }
  return "?";
}

Pool parse_pool(const std::string& name) {
  if (name == "token") return Pool::Token;
  if (name == "avg") return Pool::Avg;
  if (name == "avg-norm") return Pool::AvgNorm;
  throw UsageError("--pool: '" + name + "' is not one of token, avg, avg-norm");
}

void VitConfig::validate() const {
  auto fail = [](const std::string& what) { throw Error("ViT config: " + what); };
  if (patch_size <= 0 || in_chans <= 0 || width <= 0 || depth < 0 || heads <= 0 ||
      mlp_hidden <= 0 || reg_tokens < 0 || num_classes < 0) {
    fail("sizes must be positive");
  }
  if (width % heads != 0) {
    fail("width " + std::to_string(width) + " is not a multiple of " + std::to_string(heads) +
         " heads");
  }
  for (std::int64_t side : img_size) {
    if (side <= 0 || side % patch_size != 0) {
      fail("image size " + std::to_string(img_size[0]) + "x" + std::to_string(img_size[1]) +
           " is not a multiple of the patch size " + std::to_string(patch_size));
    }
  }
  if (pool == Pool::Token && !class_token) fail("token pooling needs a class token");
  if (dist_token && !class_token) fail("a distillation token follows a class token");
  if (dist_token && fc_norm) fail("a distilled DeiT has no fc_norm (timm's forward_head)");
  if (pool == Pool::AvgNorm && fc_norm) {
    fail("avg-norm pooling normalises with the final norm, which an fc_norm model has not");
  }
}

}  // namespace vpet::model
