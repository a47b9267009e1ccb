#include "vpet/data/loader.h"

#include <gtest/gtest.h>

#include "test_files.h"
#include "vpet/data/image_cache.h"
#include "vpet/error.h"

namespace vpet::data {
namespace {

using test_files::TempDir;
using test_files::write_idx_pair;
using test_files::write_png;
using test_files::write_text;

// Identity normalisation at the native size, so a pixel value v reads back as v / 255.
image::Preprocess plain(int size, int channels) {
  image::Preprocess p;
  p.size = size;
  p.channels = channels;
  p.mean = {0, 0, 0};
  p.std = {1, 1, 1};
  return p;
}

struct Pass {
  std::vector<int64_t> batch_sizes, labels, index;
  std::vector<torch::Tensor> images;
};

Pass run_pass(const Dataset& d, const image::Preprocess& p, LoaderOptions options) {
  BatchLoader loader(d, p, std::move(options));
  Pass pass;
  Batch b;
  while (loader.next(b)) {
    pass.batch_sizes.push_back(b.images.size(0));
    for (int64_t i = 0; i < b.labels.size(0); ++i) {
      pass.labels.push_back(b.labels[i].item<int64_t>());
      pass.index.push_back(b.index[i].item<int64_t>());
    }
    pass.images.push_back(b.images);
  }
  return pass;
}

// 37 3x3 gray IDX images (image i filled with the value i, label i % 4),
// passed five to a batch.
class ThirtySevenImages : public ::testing::Test {
 protected:
  ThirtySevenImages() {
    write_idx_pair(dir / "x-images-idx3-ubyte", dir / "x-labels-idx1-ubyte", 37, 3, 3, 4, false);
  }
  Pass pass(int threads, size_t first = 0, size_t count = static_cast<size_t>(-1),
            int64_t prefetch = 2) const {
    const Dataset d(dir / "x-images-idx3-ubyte");
    LoaderOptions options;
    options.batch = 5;
    options.threads = threads;
    options.prefetch = prefetch;
    options.first = first;
    options.count = count;
    return run_pass(d, plain(3, 3), options);
  }
  TempDir dir;
};

TEST_F(ThirtySevenImages, YieldsEverySampleInOrderWhateverTheThreadCount) {
  const Pass one = pass(1);
  const Pass four = pass(4, 0, static_cast<size_t>(-1), 3);

  EXPECT_EQ(one.batch_sizes, (std::vector<int64_t>{5, 5, 5, 5, 5, 5, 5, 2}));
  std::vector<int64_t> expected_index(37), expected_labels(37);
  for (int64_t i = 0; i < 37; ++i) {
    expected_index[i] = i;
    expected_labels[i] = i % 4;
  }
  EXPECT_EQ(one.index, expected_index);
  EXPECT_EQ(one.labels, expected_labels);
  EXPECT_EQ(four.batch_sizes, one.batch_sizes);
  EXPECT_EQ(four.index, one.index);
  EXPECT_EQ(four.labels, one.labels);
  for (size_t k = 0; k < one.images.size(); ++k) {
    ASSERT_EQ(one.images[k].sizes(), four.images[k].sizes());
    EXPECT_EQ(one.images[k].sizes()[1], 3);  // gray replicated to the model's 3 channels
    EXPECT_TRUE(torch::equal(one.images[k], four.images[k])) << "batch " << k;
  }
  // Image i is filled with the value i: check one from the middle of a batch.
  EXPECT_FLOAT_EQ(one.images[2][3][1][2][2].item<float>(), 13.0f / 255.0f);
}

// first/count: the pass is that stretch of the dataset, in order, with the
// samples' own positions, the images those of the whole pass; clipped to
// the end, and empty past it.
TEST_F(ThirtySevenImages, PassesAStretchOfTheDataset) {
  const Pass whole = pass(2);
  const Pass middle = pass(2, 10, 15);
  EXPECT_EQ(middle.batch_sizes, (std::vector<int64_t>{5, 5, 5}));
  EXPECT_EQ(middle.index, std::vector<int64_t>(whole.index.begin() + 10, whole.index.begin() + 25));
  for (size_t k = 0; k < middle.images.size(); ++k) {
    EXPECT_TRUE(torch::equal(middle.images[k], whole.images[k + 2])) << "batch " << k;
  }
  EXPECT_EQ(pass(2, 35, 15).index, (std::vector<int64_t>{35, 36}));
  EXPECT_TRUE(pass(2, 40, 15).index.empty());
}

// A folder of six 2x2 PNGs where c/3.png is not an image.
struct CorruptFolder {
  TempDir dir;
  std::string bad = dir / "d/c/3.png";
  CorruptFolder() {
    for (const char* f : {"a/1.png", "b/2.png", "c/4.png", "c/5.png", "d/6.png"}) {
      write_png(dir / (std::string("d/") + f), 2, 2, 3, 100);
    }
    write_text(bad, "this is not a PNG");
  }
};

TEST(BatchLoader, BadImageEndsTheRunNamingTheFile) {
  CorruptFolder f;
  const Dataset d(f.dir / "d");
  LoaderOptions options;
  options.batch = 2;
  options.threads = 3;
  BatchLoader loader(d, plain(2, 3), options);
  Batch b;
  ASSERT_TRUE(loader.next(b));  // 1.png, 2.png
  try {
    loader.next(b);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(f.bad), std::string::npos) << e.what();
  }
  EXPECT_THROW(loader.next(b), Error);  // and it stays failed
}

TEST(BatchLoader, SkipBadDropsTheImageWithAWarning) {
  CorruptFolder f;
  const Dataset d(f.dir / "d");
  std::vector<std::string> warnings;
  LoaderOptions options;
  options.batch = 2;
  options.threads = 2;
  options.skip_bad = true;
  options.warn = [&](const std::string& w) { warnings.push_back(w); };
  BatchLoader loader(d, plain(2, 3), options);
  Batch b;
  std::vector<int64_t> index, sizes;
  while (loader.next(b)) {
    sizes.push_back(b.index.size(0));
    for (int64_t i = 0; i < b.index.size(0); ++i) index.push_back(b.index[i].item<int64_t>());
  }
  EXPECT_EQ(index, (std::vector<int64_t>{0, 1, 3, 4, 5}));
  EXPECT_EQ(sizes, (std::vector<int64_t>{2, 2, 1}));  // batches are refilled from later samples
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find(f.bad), std::string::npos) << warnings[0];
  EXPECT_EQ(loader.skipped(), 1u);
}

TEST(BatchLoader, DestroyedMidStreamJoinsItsThreads) {
  TempDir dir;
  write_idx_pair(dir / "m-images-idx3-ubyte", dir / "m-labels-idx1-ubyte", 500, 8, 8, 10, false);
  const Dataset d(dir / "m-images-idx3-ubyte");
  LoaderOptions options;
  options.batch = 4;
  options.threads = 4;
  options.prefetch = 1;
  for (int taken = 0; taken < 3; ++taken) {
    BatchLoader loader(d, plain(16, 3), options);
    Batch b;
    for (int k = 0; k < taken; ++k) ASSERT_TRUE(loader.next(b));
  }  // reaching here without a hang is the test (ctest's timeout catches one)
}

TEST(BatchLoader, RejectsBadOptions) {
  TempDir dir;
  write_idx_pair(dir / "o-images-idx3-ubyte", dir / "o-labels-idx1-ubyte", 3, 2, 2, 2, false);
  const Dataset d(dir / "o-images-idx3-ubyte");
  LoaderOptions options;
  options.batch = 0;
  EXPECT_THROW(BatchLoader(d, plain(2, 1), options), UsageError);
  options.batch = 1;
  options.prefetch = 0;
  EXPECT_THROW(BatchLoader(d, plain(2, 1), options), UsageError);
}

TEST(ImageCache, HoldsGeometryOnceAndNormalisesBatchesLikeTheLoader) {
  CorruptFolder f;
  const Dataset d(f.dir / "d");
  std::vector<std::string> warnings;
  LoaderOptions options;
  options.threads = 3;
  options.skip_bad = true;
  options.warn = [&](const std::string& w) { warnings.push_back(w); };
  const image::Preprocess p = plain(4, 3);
  const ImageCache cache(d, p, options);
  ASSERT_EQ(cache.size(), 5u);
  EXPECT_EQ(warnings.size(), 1u);
  EXPECT_EQ(cache.skipped(), 1u);
  EXPECT_EQ(cache.index(2), 3);
  EXPECT_EQ(cache.label(2), 2);
  EXPECT_EQ(cache.image(0).width, 4);
  EXPECT_EQ(cache.bytes(), 5u * 4 * 4 * 3);
  EXPECT_LE(cache.bytes(), ImageCache::estimate_bytes(d, p));

  const Batch b = cache.batch({4, 0});
  EXPECT_EQ(b.images.sizes(), (std::vector<int64_t>{2, 3, 4, 4}));
  EXPECT_EQ(b.index[0].item<int64_t>(), 5);
  EXPECT_EQ(b.labels[0].item<int64_t>(), 3);
  options.batch = 6;
  BatchLoader loader(d, p, options);
  Batch whole;
  ASSERT_TRUE(loader.next(whole));
  EXPECT_TRUE(torch::equal(b.images[0], whole.images[4]));
  EXPECT_TRUE(torch::equal(b.images[1], whole.images[0]));

  options.skip_bad = false;
  EXPECT_THROW(ImageCache(d, p, options), Error);
}

}  // namespace
}  // namespace vpet::data
