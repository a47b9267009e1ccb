// Adapter bundles (DESIGN §4): a vpet file of kind "adapter" holding only
// what was trained (the method's tensors and the new head), the method and
// its configuration, the backbone's fingerprint, the classes, the
// preprocessing and a training summary. Applying a bundle to another
// backbone is refused.
//
// Layout: header {kind: "adapter", method, config, backbone (the backbone's
// describe(), with its fingerprint), classes, preprocess, training}, then one
// record whose tensors are the method's trainable() tensors under their own
// names, its structure() tensors (not trained; SPT's sparse indices) under
// "structure.<name>", and "head.weight" [classes, D] and "head.bias" [classes].
#pragma once

#include <torch/torch.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "vpet/model/checkpoint.h"
#include "vpet/peft/method.h"

namespace vpet::io {
class AtomicOutput;
}

namespace vpet::peft {

struct Bundle {
  std::string method;
  nlohmann::json config = nlohmann::json::object();  // the method's config()
  nlohmann::json backbone;                           // model::Backbone::describe()
  std::vector<std::string> classes;
  nlohmann::json preprocess;                           // image::to_json()
  nlohmann::json training = nlohmann::json::object();  // summary of the run
  NamedTensors tensors;                                // the method's trainable()
  NamedTensors structure;                              // the method's structure()
  torch::Tensor head_weight, head_bias;

  std::string fingerprint() const;  // backbone["fingerprint"]
  // The trained tensor called `name`. Throws vpet::Error naming `path` and
  // the tensor when the bundle has none.
  const torch::Tensor& tensor(const std::string& name, const std::string& path) const;
};

// Writes atomically. `program` and `args` go into the header. `kind`:
// "adapter", or "pixel-prompts" for a PGN bundle whose library pgn-invert
// moved to pixel space (the same layout; it deploys input-only).
void write_bundle(const std::string& path, const Bundle& bundle, const std::string& program,
                  const std::vector<std::string>& args, const std::string& kind = "adapter");
// The same into an output the caller commits (io::OutputSet).
void write_bundle(io::AtomicOutput& output, const Bundle& bundle, const std::string& program,
                  const std::vector<std::string>& args, const std::string& kind = "adapter");
// Reads either kind. Throws vpet::Error naming the file for anything that is
// not a valid bundle.
Bundle read_bundle(const std::string& path);

// Throws vpet::Error, naming both fingerprints and the bundle's path, when
// the bundle was trained on another backbone.
void check_backbone(const Bundle& bundle, const model::Backbone& backbone,
                    const std::string& bundle_path);

// The bundle's method rebuilt on `backbone` after check_backbone(): created
// from its configuration, its structure restored, attached, its tensors
// loaded, in inference mode. Methods that train backbone tensors (full,
// BitFit) write them into `backbone`. Throws vpet::Error naming the bundle's
// path for a bad configuration value or tensors that do not fit.
std::unique_ptr<Method> rebuild_method(const Bundle& bundle, const std::string& bundle_path,
                                       model::Backbone& backbone);

}  // namespace vpet::peft
