// Dataset specs csv:FILE (data/dataset.h), images relative to a folder that holds a few.
#include "fuzz/fuzz.h"

VPET_FUZZ_TARGET(csv) {
  vpet::fuzz::listed_dataset(data, size, "csv");
  return 0;
}
