#include "vpet/peft/bitfit.h"

namespace vpet::peft {

bool BitFit::trains(const std::string& name) const {
  const std::string suffix = ".bias";
  return FullFineTuning::trains(name) && name.size() > suffix.size() &&
         name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace vpet::peft
