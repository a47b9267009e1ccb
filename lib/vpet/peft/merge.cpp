#include "vpet/peft/merge.h"

#include "vpet/error.h"
#include "vpet/model/export.h"

namespace vpet::peft {

io::TensorMap merged_checkpoint(const Bundle& bundle, const std::string& bundle_path,
                                model::Backbone& backbone, model::Layout layout) {
  const std::unique_ptr<Method> method = rebuild_method(bundle, bundle_path, backbone);
  try {
    method->merge_into(backbone.vit);
  } catch (const Error& e) {
    throw Error(bundle_path + ": " + e.what());
  }
  try {
    return model::export_checkpoint(backbone.vit, bundle.head_weight, bundle.head_bias, layout);
  } catch (const Error& e) {
    throw Error(backbone.source + " with " + bundle_path + ": " + e.what());
  }
}

}  // namespace vpet::peft
