#include "vpet/model/random_vit.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <sstream>

#include "vpet/error.h"
#include "vpet/model/fingerprint.h"
#include "vpet/model/trunc_normal.h"

namespace vpet::model {
namespace {

constexpr const char* kPrefix = "random:";

struct RandomSpec {
  VitConfig config;
  std::uint64_t seed = 0;
};

std::uint64_t integer_value(const std::string& spec, const std::string& key,
                            const std::string& text, bool zero_allowed) {
  std::size_t used = 0;
  unsigned long long value = 0;
  try {
    // stoull accepts a sign; a digit first keeps "-1" out.
    if (!text.empty() && std::isdigit(static_cast<unsigned char>(text[0]))) {
      value = std::stoull(text, &used);
    }
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || (!zero_allowed && value == 0) ||
      (key != "seed" && value > std::uint64_t(std::numeric_limits<std::int32_t>::max()))) {
    throw UsageError(spec + ": " + key + "=" + text + " is not a " +
                     (zero_allowed ? "non-negative" : "positive") + " integer");
  }
  return value;
}

RandomSpec parse(const std::string& spec) {
  RandomSpec out;
  VitConfig& c = out.config;
  c.width = 192;
  c.depth = 12;
  c.heads = 3;
  c.patch_size = 16;
  c.img_size = {224, 224};
  c.in_chans = 3;
  c.num_classes = 0;
  std::int64_t mlp = 0;  // 0: 4·width
  const std::string body = spec.size() > 7 ? spec.substr(7) : std::string();
  std::stringstream items(body);
  std::string item;
  while (std::getline(items, item, ',')) {
    if (item.empty()) continue;
    const auto equals = item.find('=');
    if (equals == std::string::npos) {
      throw UsageError(spec + ": '" + item + "' is not KEY=VALUE");
    }
    const std::string key = item.substr(0, equals), text = item.substr(equals + 1);
    const std::map<std::string, std::int64_t*> sizes = {
        {"width", &c.width},      {"depth", &c.depth},    {"heads", &c.heads},
        {"patch", &c.patch_size}, {"chans", &c.in_chans}, {"mlp", &mlp}};
    if (key == "seed") {
      out.seed = integer_value(spec, key, text, true);
    } else if (key == "img") {
      const auto side = std::int64_t(integer_value(spec, key, text, false));
      c.img_size = {side, side};
    } else if (sizes.count(key)) {
      *sizes.at(key) = std::int64_t(integer_value(spec, key, text, key == "depth"));
    } else {
      throw UsageError(spec + ": unknown key '" + key +
                       "' (known: width, depth, heads, mlp, patch, img, chans, seed)");
    }
  }
  c.mlp_hidden = mlp > 0 ? mlp : 4 * c.width;
  // Every size above fits in 31 bits, but their products need not: bound the
  // model before it is built (ViT-g/14 has 1.0e9 parameters, 1536 wide).
  constexpr double kMaxParameters = double(1LL << 31);
  const double per_block =
      4.0 * double(c.width) * double(c.width) + 2.0 * double(c.width) * double(c.mlp_hidden);
  const double tokens = double(c.img_size[0] / std::max<std::int64_t>(c.patch_size, 1)) *
                        double(c.img_size[1] / std::max<std::int64_t>(c.patch_size, 1));
  const double parameters =
      double(c.depth) * per_block + tokens * double(c.width) +
      double(c.patch_size) * double(c.patch_size) * double(c.in_chans) * double(c.width);
  if (parameters > kMaxParameters || c.depth > 1024 || c.in_chans > 64) {
    throw UsageError(spec + ": " + std::to_string(std::llround(parameters / 1e6)) +
                     "M parameters, depth " + std::to_string(c.depth) + ", " +
                     std::to_string(c.in_chans) +
                     " channels: random models are bounded (2^31 parameters, depth 1024, "
                     "64 channels)");
  }
  try {
    c.validate();
  } catch (const Error& e) {
    throw UsageError(spec + ": " + e.what());
  }
  return out;
}

// timm's init_weights (mode ''), in module order, from one generator.
void initialise(VisionTransformer& vit, std::uint64_t seed) {
  torch::NoGradGuard no_grad;
  torch::Generator generator = at::detail::createCPUGenerator(seed);
  trunc_normal_(vit->pos_embed, 0.02, generator);
  vit->cls_token.normal_(0.0, 1e-6, generator);
  // PyTorch's Conv2d default: kaiming_uniform(a=√5) = U(±1/√fan_in), bias alike.
  torch::nn::Conv2d& patch = vit->patch_embed->proj;
  const double bound = 1.0 / std::sqrt(double(patch->weight[0].numel()));
  patch->weight.uniform_(-bound, bound, generator);
  patch->bias.uniform_(-bound, bound, generator);
  for (auto& module : vit->modules(/*include_self=*/false)) {
    if (auto* linear = module->as<torch::nn::Linear>()) {
      trunc_normal_(linear->weight, 0.02, generator);
      if (linear->bias.defined()) linear->bias.zero_();
    } else if (auto* norm = module->as<torch::nn::LayerNorm>()) {
      norm->weight.fill_(1.0);
      norm->bias.zero_();
    }
  }
}

}  // namespace

bool is_random_spec(const std::string& spec) {
  return spec == "random" || spec.rfind(kPrefix, 0) == 0;
}

Backbone random_backbone(const std::string& spec, const LoadOptions& options) {
  RandomSpec parsed = parse(spec);
  VitConfig& c = parsed.config;
  if (options.heads && *options.heads != c.heads) {
    throw UsageError(spec + ": --heads " + std::to_string(*options.heads) +
                     " disagrees with heads=" + std::to_string(c.heads) +
                     " (give the heads in the spec)");
  }
  if (options.ln_eps) c.ln_eps = *options.ln_eps;
  if (options.act) c.act = *options.act;
  if (options.pool) c.pool = *options.pool;
  try {
    c.validate();
  } catch (const Error& e) {
    throw UsageError(spec + ": " + e.what());
  }

  Backbone out;
  out.layout = Layout::Timm;
  out.source = spec;
  out.vit = VisionTransformer(c);
  initialise(out.vit, parsed.seed);
  std::map<std::string, torch::Tensor> weights;
  for (const auto& item : out.vit->named_parameters()) weights[item.key()] = item.value();
  out.fingerprint = backbone_fingerprint(weights);
  out.notes.push_back("random initialisation (timm's), seed " + std::to_string(parsed.seed));
  apply_load_options(out, options);
  return out;
}

}  // namespace vpet::model
