// Adapter and pixel-prompts bundles, as peft-eval reads them: the bundle is
// read, its method rebuilt on the backbone with its tensors loaded, and one
// image scored.
#include "fuzz/fuzz.h"
#include "vpet/eval/task.h"

VPET_FUZZ_TARGET(bundle) {
  const vpet::fuzz::InputFile file(data, size);
  vpet::fuzz::expect_clean_failure([&] {
    const vpet::peft::Bundle bundle = vpet::peft::read_bundle(file.path());
    vpet::model::Backbone backbone = vpet::fuzz::tiny_backbone();
    vpet::eval::Task task = vpet::eval::adapter_task(bundle, file.path(), backbone);
    torch::NoGradGuard no_grad;
    (void)task.logits(backbone.vit, torch::zeros({1, 3, 8, 8}));
  });
  return 0;
}
