// The option table shared by every program (DESIGN §5): the same option
// means the same thing everywhere. Each group is declared by add_*() and read
// back into the library's own option structs by the matching function, which
// checks values and throws vpet::UsageError naming the option.
#pragma once

#include <torch/torch.h>

#include <cxxopts.hpp>
#include <optional>
#include <string>
#include <vector>

#include "vpet/data/dataset.h"
#include "vpet/data/loader.h"
#include "vpet/image/preprocess.h"
#include "vpet/model/checkpoint.h"
#include "vpet/model/precision.h"

namespace vpet::cli {

// The command line as given, for output headers.
std::vector<std::string> command_line(int argc, char** argv);

// The value of a required option; throws vpet::UsageError "missing -m/--model".
std::string required_string(const cxxopts::ParseResult& result, const std::string& name,
                            const std::string& spelling);

// -t/--threads, --device.
void add_runtime_options(cxxopts::Options& options);
struct Runtime {
  torch::Device device = torch::kCPU;
  int threads = 1;  // resolved: never 0
};
// Resolves the thread count and applies it to LibTorch; checks the device exists.
Runtime read_runtime_options(const cxxopts::ParseResult& result);

// --precision (programs that run the backbone): fp32 or bf16 autocast.
void add_precision_option(cxxopts::Options& options);
model::Precision read_precision_option(const cxxopts::ParseResult& result);

// -m/--model, --heads.
void add_model_options(cxxopts::Options& options);
// --img-size of the preprocessing group is read here too: the position
// embedding is resampled for it once, at load time.
model::LoadOptions read_model_options(const cxxopts::ParseResult& result, const Runtime& runtime);

// -d/--data, --labels, --classes, --per-class, --limit, --seed, --skip-bad.
void add_data_options(cxxopts::Options& options);
data::DatasetOptions read_data_options(const cxxopts::ParseResult& result);
// A per-class count "N" or draw range "A:B" into per_class/per_class_from;
// throws vpet::UsageError naming `option`.
void read_per_class(const std::string& text, const std::string& option,
                    data::DatasetOptions& options);

// --img-size, --resize, --crop-fraction, --interp, --norm, --mean, --std.
void add_preprocess_options(cxxopts::Options& options);
// The model's input size and channels are the defaults, and what a Hugging
// Face snapshot's preprocessor_config.json says (backbone.preprocess_defaults)
// replaces the options' defaults; an option given on the command line wins.
image::Preprocess read_preprocess_options(const cxxopts::ParseResult& result,
                                          const model::Backbone& backbone);
// Whether any of them is on the command line: where none is, a program
// applying an adapter bundle uses the preprocessing the bundle recorded.
bool preprocess_options_given(const cxxopts::ParseResult& result);

// -b/--batch with the program's default, and the loader settings that follow
// from the runtime and data options.
void add_batch_option(cxxopts::Options& options, int default_batch);
data::LoaderOptions read_loader_options(const cxxopts::ParseResult& result, const Runtime& runtime);

// -o/--output, default "-" (standard output).
void add_output_option(cxxopts::Options& options, const std::string& what);

}  // namespace vpet::cli
