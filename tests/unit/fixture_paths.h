// Paths of the committed fixtures (tests/fixtures), shared by every unit test
// binary. VPET_FIXTURES is defined by tests/unit/CMakeLists.txt.
#pragma once

#include <string>

namespace vpet::test {

inline const std::string kFixtures = VPET_FIXTURES;
// The parity models and their expected outputs (make_vit_fixtures.py).
inline const std::string kVit = kFixtures + "/vit/";
// The smallest of them: 32x32 input, patch 8, width 48, depth 2, 5 classes.
inline const std::string kTinyVit = kVit + "a_timm.safetensors";

}  // namespace vpet::test
