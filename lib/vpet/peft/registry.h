// Methods by name: the one place that knows them all.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "vpet/peft/method.h"
#include "vpet/peft/method_option.h"

namespace vpet::peft {

// The method called `name`, configured by `config` (its own keys; missing
// keys take the method's defaults). Throws vpet::UsageError for an unknown
// name (listing the known ones) or a bad setting.
std::unique_ptr<Method> create_method(const std::string& name,
                                      const nlohmann::json& config = nlohmann::json::object());

std::vector<std::string> method_names();

// The options method `name` reads (empty for linear, full, bitfit). Throws
// vpet::UsageError for an unknown name, as create_method.
const MethodOptions& method_options(const std::string& name);

// Every method's options, each flag once (methods of one file share them).
const MethodOptions& all_method_options();

}  // namespace vpet::peft
