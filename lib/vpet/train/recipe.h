// Named recipes (peft-train --recipe NAME): every hyper-parameter of one
// paper's published protocol for one method and benchmark, as peft-train
// options. A recipe is only data: the values are typed as on the command
// line and parsed, checked and applied by the same option declarations as
// the user's own (the shared options and the methods' option specs,
// peft/method_option.h), before the command line, so that an option given
// explicitly overrides the recipe's value. Each value names the paper
// section or the official file it comes from; man/peft-train.1 (RECIPES)
// prints them, and tests/cli/recipes.bats holds every value against its own
// table.
#pragma once

#include <string>
#include <vector>

namespace vpet::train {

struct RecipeSetting {
  std::string option;  // the long option without dashes: "lr"
  std::string value;   // as typed after --option=
  std::string source;  // "configs/vtab_supervised_spt_lora.sh --lr=${LR}, LR=0.001"
};

struct Recipe {
  std::string name;                     // "spt-lora-vtab1k"
  std::string method;                   // peft-train --method
  std::string benchmark;                // "VTAB-1k"
  std::string source;                   // the paper and the official repository at the commit read
  std::vector<RecipeSetting> settings;  // --method excluded: it is `method`
};

const std::vector<Recipe>& recipes();

// The recipe called `name`. Throws vpet::UsageError listing the known ones.
const Recipe& find_recipe(const std::string& name);

}  // namespace vpet::train
