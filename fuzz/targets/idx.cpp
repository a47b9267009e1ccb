// MNIST-style IDX files, plain or gzip-compressed, read as images and as labels.
#include "fuzz/fuzz.h"
#include "vpet/data/idx_file.h"

VPET_FUZZ_TARGET(idx) {
  const vpet::fuzz::InputFile file(data, size);
  vpet::fuzz::expect_clean_failure([&] { (void)vpet::data::read_idx_images(file.path()); });
  vpet::fuzz::expect_clean_failure([&] { (void)vpet::data::read_idx_labels(file.path()); });
  return 0;
}
