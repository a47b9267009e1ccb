// spt-sensitivity's plans, as peft-train --method spt-lora|spt-adapter --plan
// --budget reads them: each plan of the file is chosen by its budget, checked
// against the backbone and attached to it.
#include "fuzz/fuzz.h"
#include "vpet/peft/registry.h"
#include "vpet/peft/spt_plan.h"

VPET_FUZZ_TARGET(plan) {
  const vpet::fuzz::InputFile file(data, size);
  vpet::fuzz::expect_clean_failure([&] {
    const vpet::peft::spt::PlanFile plans = vpet::peft::spt::read_plans(file.path());
    for (std::size_t i = 0; i < plans.plans.size() && i < 4; ++i) {
      const vpet::peft::spt::Plan& plan = plans.plans[i];
      vpet::fuzz::expect_clean_failure([&] {
        vpet::model::Backbone backbone = vpet::fuzz::tiny_backbone();
        auto method = vpet::peft::create_method(
            std::string("spt-") + vpet::peft::spt::structure_name(plan.structure),
            {{"plan", file.path()}, {"budget", plan.budget}});
        method->check_backbone(backbone.fingerprint);
        torch::Generator generator = at::detail::createCPUGenerator(0);
        method->attach(backbone.vit, generator);
      });
    }
  });
  return 0;
}
