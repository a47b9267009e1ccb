// Methods by name: the one place that knows them all.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "vpet/peft/method.h"

namespace vpet::peft {

// The method called `name`, configured by `config` (its own keys; missing
// keys take the method's defaults). Throws vpet::UsageError for an unknown
// name (listing the known ones) or a bad setting.
std::unique_ptr<Method> create_method(const std::string& name,
                                      const nlohmann::json& config = nlohmann::json::object());

std::vector<std::string> method_names();

}  // namespace vpet::peft
