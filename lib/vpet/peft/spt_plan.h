// SPT's allocation plan (He et al., ICCV 2023; reference/spt-selfprompt-vpt.md
// §1.2): which backbone tensors get a structured module (LoRA or Adapter),
// which are tuned in full, and which entries get sparse deltas. Written by
// spt-sensitivity, read by the spt-lora / spt-adapter methods.
//
// The candidates are SPT's: every weight and bias of q, k, v (the rows of
// the fused qkv, as SPT splits it), proj, fc1 and fc2, every LayerNorm
// weight and bias (norm1, norm2 of each block; the model's norm_pre, norm,
// fc_norm where it has them). Not the head, the class token, the patch or
// position embedding, registers or layer-scale factors. Their order (block
// by block in timm's parameter order, q/k/v in place of qkv, then the
// model's final norms) is the order of the flat sensitivity vector.
//
// File (vpet-format(5) kind "plan"): a header {backbone, structured, ...
// the sensitivity settings}, then one record per requested budget (see
// plan_fields below).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "vpet/io/atomic_file.h"
#include "vpet/model/config.h"
#include "vpet/model/hooks.h"
#include "vpet/model/vit.h"

namespace vpet::peft::spt {

// The structured module a heavily sensitive matrix gets.
enum class Structure { LoRA, Adapter };
const char* structure_name(Structure structure);  // "lora", "adapter"
// Throws vpet::UsageError naming `option` for anything else.
Structure parse_structure(const std::string& name, const std::string& option);

// One tensor of the ranking: a weight matrix [out, in] of a linear, or a
// vector (a linear's bias, a LayerNorm's weight or bias).
struct Candidate {
  std::string name;         // "blocks.3.attn.q.weight", "blocks.3.norm1.bias", "norm.weight"
  std::int64_t block = -1;  // -1 for the model's own norms
  bool is_norm = false;     // a LayerNorm's weight or bias (else a linear's)
  bool is_bias = false;     // the bias (or LayerNorm beta) rather than the weight
  model::Site site = model::Site::Q;              // for linears: q, k, v, o (proj), fc1, fc2
  model::NormSite norm = model::NormSite::Norm1;  // for LayerNorms
  std::vector<std::int64_t> shape;

  bool is_matrix() const { return shape.size() == 2; }
  std::int64_t numel() const;
  // The backbone tensor it names (a view into the fused qkv for q, k, v).
  torch::Tensor value(const model::VisionTransformerImpl& vit) const;
  // The gradient of that tensor after a backward pass (undefined if none).
  torch::Tensor grad(const model::VisionTransformerImpl& vit) const;
};

// Every candidate of this model, in ranking order.
std::vector<Candidate> candidates(const model::VitConfig& config);

// Trainable parameters of a structured module on a [out, in] matrix:
// LoRA r·(in + out); Adapter (on the output) 2·r·out + r + out.
std::int64_t module_cost(Structure structure, std::int64_t rank, std::int64_t out, std::int64_t in);

// How one candidate is tuned.
enum class Tuning { Frozen, Sparse, Full, Module };

struct TensorPlan {
  Tuning tuning = Tuning::Frozen;
  torch::Tensor indices;  // Sparse: int64 flat indices into the tensor, ascending
};

struct Plan {
  Structure structure = Structure::LoRA;
  std::int64_t rank = 8;
  std::int64_t budget = 0;       // requested trainable parameters
  std::int64_t selected = 0;     // τ: how many top-ranked scalars were selected
  std::int64_t class_token = 0;  // the class token's D (trained), 0 without one
  // The candidates that are not frozen, by name.
  std::map<std::string, TensorPlan> tuned;

  // What the plan trains, as SPT counts it (the head excluded):
  std::int64_t structured_params = 0;    // modules and fully tuned vectors
  std::int64_t unstructured_params = 0;  // sparse entries
  std::int64_t params() const { return structured_params + unstructured_params + class_token; }

  Tuning tuning(const std::string& name) const;
};

// Fills structured_params and unstructured_params from the tunings.
void count(Plan& plan, const std::vector<Candidate>& candidates);
// Throws vpet::Error, prefixed with `where`, unless every tuned name is a
// candidate, modules sit on matrices only, sparse indices are in range and
// ascending, and the counts agree with the tunings.
void check(const Plan& plan, const std::vector<Candidate>& candidates, const std::string& where);

// A plan as JSON fields and tensors, and back: the records of a plan file,
// and an spt method's config() and structure(). The fields are {structured,
// rank, budget, selected, class_token, params, structured_params,
// unstructured_params, sparse_entries, modules (names), vectors (names)};
// the tensors "sparse.<name>". Reading throws vpet::Error prefixed with
// `where`.
nlohmann::json plan_fields(const Plan& plan);
std::vector<std::pair<std::string, torch::Tensor>> plan_tensors(const Plan& plan);
Plan plan_from(const nlohmann::json& fields,
               const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
               const std::string& where);

struct PlanFile {
  nlohmann::json header;
  std::vector<Plan> plans;  // in file order
  std::string name;         // the input's name, for messages
};

// Writes into `output` (the caller commits it): `header` (the backbone, the
// sensitivity settings) gets the kind and the structure; one record per plan,
// with SPT's 0/1 table "matrices" [depth][q, k, v, proj, fc1, fc2] added for
// readers; then the stream's end record.
void write_plans(io::AtomicOutput& output, nlohmann::json header, const std::vector<Plan>& plans,
                 std::int64_t depth, const std::string& program,
                 const std::vector<std::string>& args);
// Throws vpet::Error naming the file and record for anything malformed.
PlanFile read_plans(const std::string& path);

// The plan made for `budget` (0: the file must hold exactly one). Throws
// vpet::UsageError listing the file's budgets when none matches.
const Plan& select_plan(const PlanFile& file, std::int64_t budget);

// "0.4M", "400k", "400000", "1.5e5" -> parameters. Throws vpet::UsageError
// naming `option`.
std::int64_t parse_budget(const std::string& text, const std::string& option);
// 400000 -> "0.4M", 1234 -> "1234".
std::string budget_string(std::int64_t budget);

}  // namespace vpet::peft::spt
