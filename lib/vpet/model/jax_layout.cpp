#include "vpet/model/jax_layout.h"

#include <set>

#include "vpet/error.h"
#include "vpet/io/tensor_text.h"

namespace vpet::model {
namespace {

// The prefixes timm's _load_weights knows: none and "opt/target/"
// (vision_transformer), "params/" and "params/img/" (big_vision).
constexpr const char* kPrefixes[] = {"", "opt/target/", "params/", "params/img/"};
constexpr const char* kPatchKernel = "embedding/kernel";

// The sub-layer names of one block, which the two code bases spell apart.
struct BlockNames {
  const char* attention;
  const char* norm2;
  const char* mlp;
};
constexpr BlockNames kVisionTransformer = {"MultiHeadDotProductAttention_1", "LayerNorm_2",
                                           "MlpBlock_3"};
constexpr BlockNames kBigVision = {"MultiHeadDotProductAttention_0", "LayerNorm_1", "MlpBlock_0"};

// Reads the arrays of one checkpoint by their names under its prefix,
// remembering which it used so that anything left over is reported.
class Arrays {
 public:
  Arrays(const io::TensorMap& weights, std::string source, std::string prefix)
      : weights_(weights), source_(std::move(source)), prefix_(std::move(prefix)) {}

  bool has(const std::string& key) const { return weights_.contains(prefix_ + key); }

  // The array `key`, which must have `rank` dimensions.
  torch::Tensor get(const std::string& key, std::int64_t rank) {
    const torch::Tensor* found = weights_.find(prefix_ + key);
    if (!found) throw Error(source_ + ": missing array '" + prefix_ + key + "'");
    if (found->dim() != rank) {
      throw Error(source_ + ": array '" + prefix_ + key + "' is " +
                  io::shape_string(found->sizes()) + ", expected " + std::to_string(rank) +
                  " dimensions");
    }
    used_.insert(prefix_ + key);
    return *found;
  }

  void skip(const std::string& key) { used_.insert(prefix_ + key); }

  // Throws for the first array nothing read.
  void check_all_used() const {
    for (const auto& [name, tensor] : weights_.tensors) {
      if (used_.count(name)) continue;
      throw Error(source_ + ": unexpected array '" + name +
                  "': not part of a Google ViT checkpoint that vpet supports (hybrid ResNet "
                  "stems and MAP heads are not)");
    }
  }

  const std::string& source() const { return source_; }

 private:
  const io::TensorMap& weights_;
  std::string source_, prefix_;
  std::set<std::string> used_;
};

void require_size(const Arrays& arrays, const std::string& what, const torch::Tensor& t,
                  std::int64_t dim, std::int64_t expected) {
  if (t.size(dim) != expected) {
    throw Error(arrays.source() + ": " + what + " is " + io::shape_string(t.sizes()) +
                ", but the model is " + std::to_string(expected) + " wide");
  }
}

// One block's arrays: the numbered blocks of the classic layout, or the
// blocks stacked along a first axis (big_vision's scan).
class Blocks {
 public:
  Blocks(Arrays& arrays, std::int64_t depth, bool stacked, BlockNames names)
      : arrays_(arrays), depth_(depth), stacked_(stacked), names_(names) {}

  std::int64_t depth() const { return depth_; }
  const BlockNames& names() const { return names_; }

  torch::Tensor get(std::int64_t block, const std::string& sub, std::int64_t rank) {
    if (!stacked_) {
      return arrays_.get("Transformer/encoderblock_" + std::to_string(block) + "/" + sub, rank);
    }
    const torch::Tensor all = arrays_.get("Transformer/encoderblock/" + sub, rank + 1);
    if (all.size(0) != depth_) {
      throw Error(arrays_.source() + ": stacked array 'Transformer/encoderblock/" + sub +
                  "' holds " + std::to_string(all.size(0)) + " blocks, not " +
                  std::to_string(depth_));
    }
    return all.select(0, block);
  }

 private:
  Arrays& arrays_;
  std::int64_t depth_;
  bool stacked_;
  BlockNames names_;
};

Blocks find_blocks(Arrays& arrays) {
  const auto numbered = [&](const BlockNames& names) {
    return arrays.has(std::string("Transformer/encoderblock_0/") + names.attention +
                      "/query/kernel");
  };
  for (const BlockNames& names : {kVisionTransformer, kBigVision}) {
    if (!numbered(names)) continue;
    std::int64_t depth = 0;
    while (arrays.has("Transformer/encoderblock_" + std::to_string(depth) + "/LayerNorm_0/scale"))
      ++depth;
    return Blocks(arrays, depth, false, names);
  }
  if (arrays.has(std::string("Transformer/encoderblock/") + kBigVision.attention +
                 "/query/kernel")) {
    const torch::Tensor scale = arrays.get("Transformer/encoderblock/LayerNorm_0/scale", 2);
    return Blocks(arrays, scale.size(0), true, kBigVision);
  }
  throw Error(arrays.source() +
              ": a Google ViT checkpoint without transformer blocks "
              "(no Transformer/encoderblock_0/MultiHeadDotProductAttention_1/query/kernel)");
}

// A LayerNorm's scale and bias under timm's names.
void put_norm(io::TensorMap& out, const std::string& name, const torch::Tensor& scale,
              const torch::Tensor& bias) {
  out.add(name + ".weight", scale);
  out.add(name + ".bias", bias);
}

// A Dense layer's kernel [in, out] and bias as a Linear's weight [out, in].
void put_dense(io::TensorMap& out, const std::string& name, const torch::Tensor& kernel,
               const torch::Tensor& bias) {
  out.add(name + ".weight", kernel.t().contiguous());
  out.add(name + ".bias", bias);
}

void convert_block(Blocks& blocks, std::int64_t i, std::int64_t width, io::TensorMap& out,
                   std::int64_t& heads) {
  const std::string to = "blocks." + std::to_string(i) + ".";
  const BlockNames& n = blocks.names();
  const std::string attention = std::string(n.attention) + "/";
  put_norm(out, to + "norm1", blocks.get(i, "LayerNorm_0/scale", 1),
           blocks.get(i, "LayerNorm_0/bias", 1));
  std::vector<torch::Tensor> qkv_weight, qkv_bias;
  for (const char* part : {"query", "key", "value"}) {
    // [D, H, d] -> [H d, D]: the rows of one head together, as timm's qkv.
    const torch::Tensor kernel = blocks.get(i, attention + part + "/kernel", 3);
    const torch::Tensor bias = blocks.get(i, attention + part + "/bias", 2);
    if (kernel.size(0) != width || bias.size(0) != kernel.size(1) ||
        bias.size(1) != kernel.size(2)) {
      throw Error("block " + std::to_string(i) + " " + part + ": kernel " +
                  io::shape_string(kernel.sizes()) + " and bias " + io::shape_string(bias.sizes()) +
                  " do not fit a " + std::to_string(width) + "-wide model");
    }
    heads = kernel.size(1);
    qkv_weight.push_back(kernel.reshape({width, -1}).t());
    qkv_bias.push_back(bias.reshape({-1}));
  }
  out.add(to + "attn.qkv.weight", torch::cat(qkv_weight, 0).contiguous());
  out.add(to + "attn.qkv.bias", torch::cat(qkv_bias, 0));
  // [H, d, D] -> [D, H d].
  const torch::Tensor out_kernel = blocks.get(i, attention + "out/kernel", 3);
  out.add(to + "attn.proj.weight", out_kernel.reshape({-1, out_kernel.size(2)}).t().contiguous());
  out.add(to + "attn.proj.bias", blocks.get(i, attention + "out/bias", 1));
  const std::string norm2 = std::string(n.norm2) + "/";
  put_norm(out, to + "norm2", blocks.get(i, norm2 + "scale", 1), blocks.get(i, norm2 + "bias", 1));
  const std::string mlp = std::string(n.mlp) + "/";
  put_dense(out, to + "mlp.fc1", blocks.get(i, mlp + "Dense_0/kernel", 2),
            blocks.get(i, mlp + "Dense_0/bias", 1));
  put_dense(out, to + "mlp.fc2", blocks.get(i, mlp + "Dense_1/kernel", 2),
            blocks.get(i, mlp + "Dense_1/bias", 1));
}

}  // namespace

bool is_jax_layout(const io::TensorMap& weights) {
  for (const char* prefix : kPrefixes) {
    if (weights.contains(std::string(prefix) + kPatchKernel)) return true;
  }
  return false;
}

io::TensorMap jax_to_timm(const io::TensorMap& weights, const std::string& source,
                          std::vector<std::string>& notes) {
  std::string prefix;
  for (const char* candidate : kPrefixes) {
    if (weights.contains(std::string(candidate) + kPatchKernel)) prefix = candidate;
  }
  Arrays arrays(weights, source, prefix);
  io::TensorMap out;

  // HWIO -> OIHW.
  const torch::Tensor patch = arrays.get(kPatchKernel, 4);
  const std::int64_t width = patch.size(3);
  out.add("patch_embed.proj.weight", patch.permute({3, 2, 0, 1}).contiguous());
  out.add("patch_embed.proj.bias", arrays.get("embedding/bias", 1));
  if (arrays.has("cls")) {
    const torch::Tensor cls = arrays.get("cls", 3);
    require_size(arrays, "cls", cls, 2, width);
    out.add("cls_token", cls);
  }
  // big_vision keeps the position embedding at the top level.
  const std::string pos_key = arrays.has("Transformer/posembed_input/pos_embedding")
                                  ? "Transformer/posembed_input/pos_embedding"
                                  : "pos_embedding";
  const torch::Tensor pos = arrays.get(pos_key, 3);
  require_size(arrays, "the position embedding", pos, 2, width);
  out.add("pos_embed", pos);

  Blocks blocks = find_blocks(arrays);
  std::int64_t heads = 0;
  for (std::int64_t i = 0; i < blocks.depth(); ++i) {
    try {
      convert_block(blocks, i, width, out, heads);
    } catch (const Error& e) {
      const std::string message = e.what();
      throw Error(message.rfind(source, 0) == 0 ? message : source + ": " + message);
    }
  }
  put_norm(out, "norm", arrays.get("Transformer/encoder_norm/scale", 1),
           arrays.get("Transformer/encoder_norm/bias", 1));

  const bool pre_logits = arrays.has("pre_logits/kernel");
  if (pre_logits) {
    arrays.skip("pre_logits/kernel");
    arrays.skip("pre_logits/bias");
    arrays.skip("head/kernel");
    arrays.skip("head/bias");
    notes.push_back(
        "ignored pre_logits and the head trained on it: the representation layer of the "
        "ImageNet-21k checkpoints, which the PEFT papers and timm drop (a new head is trained)");
  } else if (arrays.has("head/kernel")) {
    put_dense(out, "head", arrays.get("head/kernel", 2), arrays.get("head/bias", 1));
  }
  arrays.check_all_used();
  out.metadata["num_heads"] = std::to_string(heads);
  notes.push_back("Google JAX (vision_transformer) layout, converted to timm's");
  return out;
}

}  // namespace vpet::model
