// Dataset specs json:FILE (data/dataset.h), images relative to a folder that holds a few.
#include "fuzz/fuzz.h"

VPET_FUZZ_TARGET(json) {
  vpet::fuzz::listed_dataset(data, size, "json");
  return 0;
}
