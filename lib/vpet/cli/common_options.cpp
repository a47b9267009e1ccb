#include "vpet/cli/common_options.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <sstream>
#include <thread>

#include "vpet/cli/blas_threads.h"
#include "vpet/cli/log.h"
#include "vpet/error.h"
#include "vpet/strings.h"

namespace vpet::cli {
namespace {

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream stream(text);
  std::string part;
  while (std::getline(stream, part, ',')) {
    if (!part.empty()) parts.push_back(part);
  }
  return parts;
}

template <typename T>
T at_least(const cxxopts::ParseResult& result, const std::string& name, T minimum) {
  T value = result[name].as<T>();
  if (value < minimum) {
    throw UsageError("--" + name + " must be at least " + std::to_string(minimum) + ", got " +
                     std::to_string(value));
  }
  return value;
}

// --checkpoint-grid ROWSxCOLS, each 1..4096 (a grid of 16M position
// embeddings is far beyond any ViT).
std::array<std::int64_t, 2> parse_grid(const std::string& text) {
  const auto side = [&](const std::string& digits) -> std::int64_t {
    if (!is_digits(digits, 4)) return 0;
    const std::int64_t value = std::stoll(digits);
    return value <= 4096 ? value : 0;
  };
  const std::size_t x = text.find('x');
  const std::int64_t rows = x == std::string::npos ? 0 : side(text.substr(0, x));
  const std::int64_t cols = x == std::string::npos ? 0 : side(text.substr(x + 1));
  if (rows < 1 || cols < 1) {
    throw UsageError("--checkpoint-grid: '" + text +
                     "' is not ROWSxCOLS, two numbers from 1 to 4096 (e.g. 14x28)");
  }
  return {rows, cols};
}

torch::Device parse_device(const std::string& text) {
  torch::Device device = torch::kCPU;
  try {
    device = torch::Device(text);
  } catch (const c10::Error&) {
    throw UsageError("--device: '" + text + "' is not a device (cpu, cuda or cuda:N)");
  }
  if (device.is_cuda()) {
    if (!torch::cuda::is_available()) {
      throw Error("--device " + text + ": CUDA is not available (this LibTorch is built for " +
                  "CPU only, or no GPU is visible)");
    }
    if (device.has_index() && device.index() >= static_cast<int>(torch::cuda::device_count())) {
      throw Error("--device " + text + ": only " + std::to_string(torch::cuda::device_count()) +
                  " CUDA device(s) visible");
    }
  } else if (!device.is_cpu()) {
    throw UsageError("--device: '" + text + "' is not supported (cpu, cuda or cuda:N)");
  }
  return device;
}

}  // namespace

std::vector<std::string> command_line(int argc, char** argv) {
  return std::vector<std::string>(argv, argv + argc);
}

std::string required_string(const cxxopts::ParseResult& result, const std::string& name,
                            const std::string& spelling) {
  if (!result.count(name)) throw UsageError("missing " + spelling);
  return result[name].as<std::string>();
}

void add_runtime_options(cxxopts::Options& options) {
  // clang-format off
  options.add_options("Runtime")
    ("t,threads",
     "Threads for decoding and LibTorch (0: all cores)",
     cxxopts::value<int>()->default_value("0"),
     "N")
    ("device",
     "Device: cpu, cuda or cuda:N",
     cxxopts::value<std::string>()->default_value("cpu"),
     "DEV");
  // clang-format on
}

Runtime read_runtime_options(const cxxopts::ParseResult& result) {
  Runtime runtime;
  // A thread per core; more than any machine has is a typo (-t 100000
  // would start that many threads before the first image).
  constexpr int kMaxThreads = 1024;
  int threads = at_least(result, "threads", 0);
  if (threads > kMaxThreads) {
    throw UsageError("--threads must be at most " + std::to_string(kMaxThreads) + ", got " +
                     std::to_string(threads));
  }
  if (threads == 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  runtime.threads = threads;
  // LibTorch starts with one thread on small machines; set it explicitly.
  torch::set_num_threads(threads);
  set_blas_threads(threads);
  runtime.device = parse_device(result["device"].as<std::string>());
  return runtime;
}

void add_precision_option(cxxopts::Options& options) {
  // clang-format off
  options.add_options("Runtime")
    ("precision",
     "Forward pass precision: fp32, or bf16 autocast (weights and optimiser stay fp32)",
     cxxopts::value<std::string>()->default_value("fp32"),
     "P");
  // clang-format on
}

model::Precision read_precision_option(const cxxopts::ParseResult& result) {
  return model::parse_precision(result["precision"].as<std::string>());
}

void add_model_options(cxxopts::Options& options) {
  // clang-format off
  options.add_options("Model")
    ("m,model",
     "ViT checkpoint (.safetensors: timm, torchvision or Hugging Face ViT, Dinov2 or CLIP "
     "layout; a Hugging Face snapshot folder, sharded or not; .npz: Google's JAX layout or "
     "numpy.savez), or random:width=W,depth=N,... for a randomly initialised ViT (vpet(7))",
     cxxopts::value<std::string>(),
     "FILE")
    ("pool",
     "The feature the head reads: token (the class token), avg (the mean of the normed "
     "patch tokens) or avg-norm (MAE's: the norm of the tokens' mean) (default: from the "
     "checkpoint)",
     cxxopts::value<std::string>(),
     "NAME")
    ("heads",
     "Attention heads (default: from the checkpoint's metadata, else width/64)",
     cxxopts::value<std::int64_t>(),
     "N")
    ("checkpoint-grid",
     "The checkpoint's patch grid, for a position embedding that is not a square grid "
     "(default: the square its length gives)",
     cxxopts::value<std::string>(),
     "ROWSxCOLS")
    ("act",
     "MLP activation: gelu, gelu-tanh or quick-gelu (OpenAI CLIP's) (default: from the "
     "checkpoint's config.json or metadata; quick-gelu for Hugging Face CLIP; else gelu)",
     cxxopts::value<std::string>(),
     "NAME");
  // clang-format on
}

model::LoadOptions read_model_options(const cxxopts::ParseResult& result, const Runtime& runtime) {
  model::LoadOptions options;
  if (result.count("heads")) options.heads = at_least<std::int64_t>(result, "heads", 1);
  if (result.count("pool")) options.pool = model::parse_pool(result["pool"].as<std::string>());
  if (result.count("checkpoint-grid")) {
    options.checkpoint_grid = parse_grid(result["checkpoint-grid"].as<std::string>());
  }
  if (result.count("act")) {
    options.act = model::parse_activation(result["act"].as<std::string>(), "--act");
  }
  if (result.count("img-size")) {
    // 8192 is 16x a ViT-g's 518; larger asks for gigabytes of position embedding.
    constexpr int kMaxImgSize = 8192;
    std::int64_t size = at_least<int>(result, "img-size", 1);
    if (size > kMaxImgSize) {
      throw UsageError("--img-size must be at most " + std::to_string(kMaxImgSize) + ", got " +
                       std::to_string(size));
    }
    options.img_size = std::array<std::int64_t, 2>{size, size};
  }
  options.device = runtime.device;
  return options;
}

void add_data_options(cxxopts::Options& options) {
  // clang-format off
  options.add_options("Data")
    ("d,data",
     "Dataset: a folder of class folders, a 'path label' list file, an IDX images file, or "
     "a JSON ({\"path\": label}, VPT's FGVC splits) or CSV (path,label) split (prefix folder:, "
     "list:, idx:, json: or csv: to force)",
     cxxopts::value<std::string>(),
     "SPEC")
    ("labels",
     "IDX labels file (default: derived from the images file's name)",
     cxxopts::value<std::string>(),
     "FILE")
    ("root",
     "JSON and CSV splits: the folder their image paths are relative to (default: the "
     "split file's)",
     cxxopts::value<std::string>(),
     "DIR")
    ("classes",
     "Keep these classes (labels or names), relabelled 0..k-1 in this order",
     cxxopts::value<std::string>(),
     "LIST")
    ("per-class",
     "Keep N samples per class, drawn with --seed (0: all); A:B keeps draws A..B-1 of "
     "the same draw, so ranges split it (0:160 and 160:200)",
     cxxopts::value<std::string>()->default_value("0"),
     "N|A:B")
    ("limit",
     "Keep N samples in all, drawn with --seed (0: all)",
     cxxopts::value<std::int64_t>()->default_value("0"),
     "N")
    ("seed", "Seed of the sampling", cxxopts::value<std::uint64_t>()->default_value("0"), "N")
    ("skip-bad", "Warn about unreadable images and skip them instead of failing")
    ("max-image-pixels",
     "Refuse images of more pixels, before decoding them (a decompression-bomb guard, "
     "Pillow's default; 0: no limit)",
     cxxopts::value<std::int64_t>()->default_value(std::to_string(image::kDefaultMaxPixels)),
     "N");
  // clang-format on
}

void read_per_class(const std::string& text, const std::string& option,
                    data::DatasetOptions& options) {
  // "N" or "A:B", non-negative integers with B > A.
  auto number = [&](const std::string& part) {
    std::size_t used = 0;
    long long value = -1;
    try {
      if (!part.empty() && std::isdigit(static_cast<unsigned char>(part[0]))) {
        value = std::stoll(part, &used);
      }
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != part.size()) {
      throw UsageError(option + ": '" + text + "' is not N or A:B (non-negative integers)");
    }
    return std::int64_t(value);
  };
  const auto colon = text.find(':');
  if (colon == std::string::npos) {
    options.per_class_from = 0;
    options.per_class = number(text);
    return;
  }
  const std::int64_t from = number(text.substr(0, colon)), to = number(text.substr(colon + 1));
  if (to <= from) throw UsageError(option + ": in '" + text + "' the end is not after the start");
  options.per_class_from = from;
  options.per_class = to - from;
}

data::DatasetOptions read_data_options(const cxxopts::ParseResult& result) {
  data::DatasetOptions options;
  if (result.count("classes")) {
    options.classes = split_commas(result["classes"].as<std::string>());
    if (options.classes.empty()) throw UsageError("--classes: empty list");
  }
  read_per_class(result["per-class"].as<std::string>(), "--per-class", options);
  options.limit = at_least<std::int64_t>(result, "limit", 0);
  options.seed = result["seed"].as<std::uint64_t>();
  image::set_max_image_pixels(long(at_least<std::int64_t>(result, "max-image-pixels", 0)));
  if (result.count("labels")) options.labels = result["labels"].as<std::string>();
  if (result.count("root")) options.root = result["root"].as<std::string>();
  return options;
}

void add_preprocess_options(cxxopts::Options& options) {
  // clang-format off
  options.add_options("Preprocessing")
    ("img-size",
     "Side of the square model input (default: the checkpoint's)",
     cxxopts::value<int>(),
     "N")
    ("resize",
     "squash: resize to NxN; crop: shorter side to N/crop-fraction, centre crop",
     cxxopts::value<std::string>()->default_value("squash"),
     "POLICY")
    ("crop-fraction",
     "Crop fraction of --resize crop (timm's crop_pct)",
     cxxopts::value<double>()->default_value("0.875"),
     "F")
    ("interp",
     "Interpolation: bicubic (the papers' and timm's) or bilinear",
     cxxopts::value<std::string>()->default_value("bicubic"),
     "NAME")
    ("norm",
     "Normalisation: imagenet, inception (0.5/0.5), clip or none",
     cxxopts::value<std::string>()->default_value("imagenet"),
     "NAME")
    ("mean", "Normalisation mean, overrides --norm", cxxopts::value<std::string>(), "R,G,B")
    ("std", "Normalisation std, overrides --norm", cxxopts::value<std::string>(), "R,G,B");
  // clang-format on
}

bool preprocess_options_given(const cxxopts::ParseResult& result) {
  for (const char* name :
       {"img-size", "resize", "crop-fraction", "interp", "norm", "mean", "std"}) {
    if (result.count(name)) return true;
  }
  return false;
}

image::Preprocess read_preprocess_options(const cxxopts::ParseResult& result,
                                          const model::Backbone& backbone) {
  const model::VitConfig& model = backbone.vit->config();
  image::Preprocess preprocess;
  if (model.img_size[0] != model.img_size[1]) {
    throw Error("the model's input is " + std::to_string(model.img_size[0]) + "x" +
                std::to_string(model.img_size[1]) +
                "; vpet's preprocessing makes square inputs: pass --img-size");
  }
  preprocess.size = static_cast<int>(model.img_size[0]);
  preprocess.channels = static_cast<int>(model.in_chans);
  // An option given wins; then a snapshot's preprocessor_config.json; then
  // the options' own defaults.
  static const model::PreprocessDefaults kNone;
  const model::PreprocessDefaults& file =
      backbone.preprocess_defaults ? *backbone.preprocess_defaults : kNone;
  auto chosen = [&](const char* option, const std::optional<std::string>& from_file) {
    return result.count(option) || !from_file ? result[option].as<std::string>() : *from_file;
  };
  preprocess.resize = image::parse_resize_mode(chosen("resize", file.resize), "--resize");
  preprocess.crop_fraction = result.count("crop-fraction") || !file.crop_fraction
                                 ? result["crop-fraction"].as<double>()
                                 : *file.crop_fraction;
  preprocess.interp = image::parse_interp(chosen("interp", file.interp), "--interp");
  image::Normalization norm =
      image::normalization_named(result["norm"].as<std::string>(), "--norm");
  preprocess.mean = norm.mean;
  preprocess.std = norm.std;
  if (!result.count("norm")) {
    if (file.mean) preprocess.mean = *file.mean;
    if (file.std) preprocess.std = *file.std;
  }
  if (result.count("mean")) {
    preprocess.mean = image::parse_triple(result["mean"].as<std::string>(), "--mean");
  }
  if (result.count("std")) {
    preprocess.std = image::parse_triple(result["std"].as<std::string>(), "--std");
  }
  image::validate(preprocess);
  return preprocess;
}

void add_batch_option(cxxopts::Options& options, int default_batch) {
  // clang-format off
  options.add_options("Data")
    ("b,batch",
     "Images per batch",
     cxxopts::value<std::int64_t>()->default_value(std::to_string(default_batch)),
     "N");
  // clang-format on
}

data::LoaderOptions read_loader_options(const cxxopts::ParseResult& result,
                                        const Runtime& runtime) {
  data::LoaderOptions options;
  options.batch = at_least<std::int64_t>(result, "batch", 1);
  options.threads = runtime.threads;
  options.skip_bad = result.count("skip-bad") > 0;
  options.warn = [](const std::string& message) { warn(message); };
  return options;
}

void add_output_option(cxxopts::Options& options, const std::string& what) {
  // clang-format off
  options.add_options("Output")
    ("o,output",
     what + " ('-': standard output)",
     cxxopts::value<std::string>()->default_value("-"),
     "FILE");
  // clang-format on
}

}  // namespace vpet::cli
