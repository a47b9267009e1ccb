// Prompt sets from tokens streams: the layer mapping and the dropped prefix
// tokens, each method's candidates, shallow and deep, the per-layer seeding,
// and the refusals (not a tokens stream, a missing layer, shapes that do not
// fit, too few candidates, windows that cannot be cut).
#include "vpet/proto/prompt_init.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "vpet/error.h"
#include "vpet/io/stream.h"
#include "vpet/proto/window_pool.h"

namespace vpet::proto {
namespace {

namespace fs = std::filesystem;

class PromptInitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "vpet-proto-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  nlohmann::json tokens_header(std::vector<std::int64_t> layers, std::int64_t depth = 2) const {
    nlohmann::json header = io::make_header("tokens", "test", {});
    header["layers"] = layers;
    header["prefix_tokens"] = 1;
    header["backbone"] = {{"depth", depth}, {"width", 2}, {"fingerprint", "sha256:test"}};
    return header;
  }

  // A stream of `records` records of `batch` images, N patches each. Token
  // values say where they come from: [layer number, image·100 + patch],
  // and −1 for the class token, so a prompt shows which token it was.
  std::string write_stream(const nlohmann::json& header, std::int64_t records, std::int64_t batch,
                           std::int64_t patches) const {
    const std::string path = (dir_ / "tokens.vpet").string();
    io::StreamWriter out(path, header);
    const auto layers = header["layers"].get<std::vector<std::int64_t>>();
    for (std::int64_t r = 0; r < records; ++r) {
      torch::Tensor features = torch::empty({batch, std::int64_t(layers.size()), 1 + patches, 2});
      for (std::int64_t b = 0; b < batch; ++b) {
        for (std::size_t l = 0; l < layers.size(); ++l) {
          for (std::int64_t t = 0; t <= patches; ++t) {
            const std::int64_t image = r * batch + b;
            features[b][std::int64_t(l)][t][0] = float(layers[l]);
            features[b][std::int64_t(l)][t][1] = t == 0 ? -1.0f : float(image * 100 + t - 1);
          }
        }
      }
      io::Record record;
      record.tensors.emplace_back("features", features);
      out.write(record);
    }
    out.close();
    return path;
  }

  PromptInit build(const std::string& path, const std::vector<std::int64_t>& layers,
                   const PrototypeOptions& options) const {
    TokenStream in(path);
    std::int64_t images = 0;
    PromptInit init = build_prompt_init(in, layers, options, [&](std::int64_t n) { images += n; });
    EXPECT_EQ(images, init.images);
    return init;
  }

  fs::path dir_;
};

PrototypeOptions options_for(Method method, std::int64_t prompts, std::uint64_t seed = 0) {
  PrototypeOptions options;
  options.method = method;
  options.prompts = prompts;
  options.seed = seed;
  return options;
}

// Refusal with a message containing `part`.
template <typename F>
void expect_error(F&& f, const std::string& part) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one mentioning '" << part << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

TEST(PromptLayers, DeepIsZeroToDepthMinusOneShallowIsZero) {
  EXPECT_EQ(prompt_layers(true, 3), (std::vector<std::int64_t>{0, 1, 2}));
  EXPECT_EQ(prompt_layers(false, 3), (std::vector<std::int64_t>{0}));
}

TEST_F(PromptInitTest, RandomDeepDrawsDistinctPatchTokensOfEachLayer) {
  // The stream has layers 0..depth (the last is not used), in any order.
  const std::string path = write_stream(tokens_header({2, 0, 1}), 3, 4, 6);
  const PromptInit init = build(path, {0, 1}, options_for(Method::Random, 5));
  ASSERT_EQ(init.prompts.sizes(), (std::vector<std::int64_t>{2, 5, 2}));
  EXPECT_EQ(init.images, 12);
  EXPECT_EQ(init.patches_per_image, 6);
  for (std::int64_t l = 0; l < 2; ++l) {
    const torch::Tensor set = init.prompts[l];
    EXPECT_TRUE(set.select(1, 0).eq(float(l)).all().item<bool>()) << "prompt set from layer " << l;
    EXPECT_TRUE(set.select(1, 1).ge(0).all().item<bool>()) << "a class token was drawn";
    std::set<float> tokens;
    for (std::int64_t p = 0; p < 5; ++p) tokens.insert(set[p][1].item<float>());
    EXPECT_EQ(tokens.size(), 5u);
    EXPECT_EQ(init.layers[std::size_t(l)].layer, l);
    EXPECT_EQ(init.layers[std::size_t(l)].tokens_seen, 72);
    EXPECT_EQ(init.layers[std::size_t(l)].candidates, 72);
  }
}

TEST_F(PromptInitTest, ShallowUsesLayerZeroAndLayersAreSeededApart) {
  const std::string path = write_stream(tokens_header({0, 1, 2}), 2, 5, 8);
  const PromptInit shallow = build(path, {0}, options_for(Method::Random, 4, 3));
  const PromptInit deep = build(path, {0, 1}, options_for(Method::Random, 4, 3));
  ASSERT_EQ(shallow.prompts.sizes(), (std::vector<std::int64_t>{1, 4, 2}));
  // Layer 0's prompts do not depend on which other layers were built.
  EXPECT_TRUE(torch::equal(shallow.prompts[0], deep.prompts[0]));
  const PromptInit other_seed = build(path, {0}, options_for(Method::Random, 4, 4));
  EXPECT_FALSE(torch::equal(shallow.prompts, other_seed.prompts));
}

TEST_F(PromptInitTest, MeanAndMaxDrawAmongTheWindowsOfEveryImage) {
  const std::int64_t patches = 10, prompts = 4;  // w = 3: windows of 3, 3, 3, 1
  const std::string path = write_stream(tokens_header({0, 1, 2}), 2, 3, patches);
  const WindowLayout layout = *window_layout(patches, prompts);
  for (Method method : {Method::Mean, Method::Max}) {
    const PromptInit init = build(path, {0, 1}, options_for(method, prompts));
    ASSERT_EQ(init.prompts.sizes(), (std::vector<std::int64_t>{2, prompts, 2}));
    EXPECT_EQ(init.layers[1].candidates, 6 * layout.windows());
    EXPECT_EQ(init.layers[1].tokens_seen, 6 * patches);
    // The direct pooled rows of every image of layer 1.
    TokenStream in(path);
    in.select_layers({1});
    std::vector<torch::Tensor> pooled;
    std::vector<torch::Tensor> patches_of_record;
    while (in.next(patches_of_record)) {
      pooled.push_back(pool_windows(patches_of_record[0], layout,
                                    method == Method::Max ? Pooling::Max : Pooling::Mean)
                           .reshape({-1, 2}));
    }
    const torch::Tensor candidates = torch::cat(pooled);
    std::set<std::int64_t> rows;
    for (std::int64_t p = 0; p < prompts; ++p) {
      const torch::Tensor hits = (candidates - init.prompts[1][p]).abs().sum(1).eq(0).nonzero();
      ASSERT_EQ(hits.size(0), 1) << "prompt " << p << " is no pooled window";
      rows.insert(hits[0][0].item<std::int64_t>());
    }
    EXPECT_EQ(rows.size(), std::size_t(prompts));
  }
}

TEST_F(PromptInitTest, KMeansReportsItsClustering) {
  const std::string path = write_stream(tokens_header({0, 1, 2}), 3, 4, 6);
  PrototypeOptions options = options_for(Method::KMeans, 3);
  options.max_tokens = 50;
  options.sample_fraction = 0.8;
  const PromptInit init = build(path, {0, 1}, options);
  ASSERT_EQ(init.prompts.sizes(), (std::vector<std::int64_t>{2, 3, 2}));
  for (const LayerSummary& layer : init.layers) {
    ASSERT_TRUE(layer.kmeans.has_value());
    EXPECT_EQ(layer.tokens_seen, 72);
    EXPECT_EQ(layer.candidates, 50);  // about 58 tokens enter the sample, 50 are kept
    EXPECT_GT(layer.kmeans->inertia, 0);
    EXPECT_GE(layer.kmeans->iterations, 1);
    EXPECT_TRUE(torch::equal(init.prompts[layer.layer], layer.kmeans->centres));
  }
  // Centres of layer-l tokens lie on layer l's line.
  EXPECT_TRUE(init.prompts[1].select(1, 0).eq(1).all().item<bool>());
  const PromptInit again = build(path, {0, 1}, options);
  EXPECT_TRUE(torch::equal(init.prompts, again.prompts));
}

TEST_F(PromptInitTest, RefusesAStreamOfAnotherKind) {
  const std::string path = (dir_ / "features.vpet").string();
  io::StreamWriter out(path, io::make_header("features", "test", {}));
  out.close();
  expect_error([&] { TokenStream in(path); }, "'features' stream, but a 'tokens' stream");
}

TEST_F(PromptInitTest, RefusesAMissingLayer) {
  const std::string path = write_stream(tokens_header({0, 2}), 1, 2, 6);
  TokenStream in(path);
  expect_error([&] { in.select_layers({0, 1}); }, "has no layer 1");
}

TEST_F(PromptInitTest, RefusesAHeaderWithoutDepthForDeep) {
  nlohmann::json header = tokens_header({0, 1});
  header.erase("backbone");
  const std::string path = write_stream(header, 1, 2, 6);
  TokenStream in(path);
  expect_error([&] { in.backbone_depth(); }, "no backbone depth");
}

TEST_F(PromptInitTest, RefusesRecordsThatDoNotFitTheHeaderOrEachOther) {
  const std::string path = (dir_ / "bad.vpet").string();
  {
    io::StreamWriter out(path, tokens_header({0, 1}));
    io::Record first, second;
    first.tensors.emplace_back("features", torch::zeros({2, 2, 7, 2}));
    second.tensors.emplace_back("features", torch::zeros({2, 2, 9, 2}));
    out.write(first);
    out.write(second);
    out.close();
  }
  TokenStream in(path);
  std::vector<torch::Tensor> patches;
  EXPECT_TRUE(in.next(patches));
  expect_error([&] { in.next(patches); }, "record 2");

  {
    io::StreamWriter out(path, tokens_header({0, 1, 2}));
    io::Record record;
    record.tensors.emplace_back("features", torch::zeros({2, 2, 7, 2}));
    out.write(record);
    out.close();
  }
  TokenStream three_layers(path);
  expect_error([&] { three_layers.next(patches); }, "3 layers");
}

TEST_F(PromptInitTest, RefusesTooFewCandidates) {
  const std::string path = write_stream(tokens_header({0, 1, 2}), 1, 1, 6);  // 6 tokens
  expect_error([&] { build(path, {0}, options_for(Method::Random, 7)); }, "fewer than the 7");
  // N = 6, P = 4: w = 2, so the one image gives three cover windows (the
  // reference rule always gives P).
  PrototypeOptions cover = options_for(Method::Mean, 4);
  cover.windows = WindowRule::Cover;
  expect_error([&] { build(path, {0}, cover); }, "offers 3 candidate");
  EXPECT_NO_THROW(build(path, {0}, options_for(Method::Mean, 4)));
}

TEST_F(PromptInitTest, RefusesWindowsThatCannotBeCut) {
  const std::string path = write_stream(tokens_header({0, 1, 2}), 2, 3, 6);
  expect_error([&] { build(path, {0}, options_for(Method::Max, 8)); }, "at most 7 prompts");
  EXPECT_NO_THROW(build(path, {0}, options_for(Method::Max, 7)));
}

TEST_F(PromptInitTest, RefusesAnEmptyStream) {
  const std::string path = write_stream(tokens_header({0, 1, 2}), 0, 1, 6);
  expect_error([&] { build(path, {0}, options_for(Method::Random, 1)); }, "holds no images");
}

}  // namespace
}  // namespace vpet::proto
