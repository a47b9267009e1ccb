// Dataset specs list:FILE (data/dataset.h), images relative to a folder that holds a few.
#include "fuzz/fuzz.h"

VPET_FUZZ_TARGET(list) {
  vpet::fuzz::listed_dataset(data, size, "list");
  return 0;
}
