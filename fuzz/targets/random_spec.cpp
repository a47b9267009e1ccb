// Model specs random:KEY=VALUE,... (model/random_vit.h). Specs with a
// number over 64 are skipped: they name a larger model, whose weights the
// target would draw (sizes are the bounds tests' business, not a fuzzer's).
#include <cctype>

#include "fuzz/fuzz.h"
#include "vpet/model/random_vit.h"

VPET_FUZZ_TARGET(random_spec) {
  const std::string spec(reinterpret_cast<const char*>(data), size);
  std::uint64_t number = 0;
  for (char c : spec) {
    if (!std::isdigit(static_cast<unsigned char>(c))) {
      number = 0;
    } else if ((number = number * 10 + std::uint64_t(c - '0')) > 64) {
      return 0;
    }
  }
  vpet::fuzz::expect_clean_failure([&] {
    if (vpet::model::is_random_spec(spec)) (void)vpet::model::random_backbone(spec);
  });
  return 0;
}
