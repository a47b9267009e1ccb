// prompt-init-proto's prompts files, as peft-train --init-prompts reads them:
// VPT-deep's prompts are initialised from the file and attached.
#include "fuzz/fuzz.h"
#include "vpet/peft/registry.h"

VPET_FUZZ_TARGET(prompts) {
  const vpet::fuzz::InputFile file(data, size);
  vpet::fuzz::expect_clean_failure([&] {
    vpet::model::Backbone backbone = vpet::fuzz::tiny_backbone();
    auto method =
        vpet::peft::create_method("vpt-deep", {{"init_prompts", file.path()}, {"prompts", 2}});
    method->check_backbone(backbone.fingerprint);
    torch::Generator generator = at::detail::createCPUGenerator(0);
    method->attach(backbone.vit, generator);
  });
  return 0;
}
