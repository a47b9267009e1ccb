// peft-train's checkpoints, as --resume reads them (and restores the RNG).
#include "vpet/train/checkpoint.h"
#include "fuzz/fuzz.h"

VPET_FUZZ_TARGET(checkpoint) {
  const vpet::fuzz::InputFile file(data, size);
  vpet::fuzz::expect_clean_failure([&] {
    const vpet::train::Checkpoint checkpoint = vpet::train::read_checkpoint(file.path());
    vpet::train::restore_rng(checkpoint.rng, torch::kCPU);
  });
  return 0;
}
