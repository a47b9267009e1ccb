#include <gtest/gtest.h>

#include <filesystem>

#include "test_files.h"
#include "vpet/data/dataset.h"
#include "vpet/error.h"

namespace vpet::data {
namespace {

using test_files::gzip_bytes;
using test_files::idx_bytes;
using test_files::TempDir;
using test_files::write_bytes;
using test_files::write_idx_pair;

using test_files::error_of;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class IdxDataset : public ::testing::TestWithParam<bool> {};

TEST_P(IdxDataset, ReadsImagesAndDerivedLabelsFile) {
  const bool gz = GetParam();
  TempDir dir;
  const std::string suffix = gz ? "-ubyte.gz" : "-ubyte";
  write_idx_pair(dir / ("train-images-idx3" + suffix), dir / ("train-labels-idx1" + suffix), 25, 4,
                 3, 10, gz);
  const Dataset d(dir / ("train-images-idx3" + suffix));
  EXPECT_EQ(d.kind(), DatasetKind::kIdx);
  ASSERT_EQ(d.size(), 25u);
  EXPECT_EQ(d.num_classes(), 10);
  EXPECT_EQ(d.sample(13).label, 3);
  EXPECT_EQ(d.sample(13).index, 13);
  const image::Image im = d.image(13);
  EXPECT_EQ(im.width, 3);
  EXPECT_EQ(im.height, 4);
  EXPECT_EQ(im.channels, 1);
  EXPECT_EQ(im.pixels, std::vector<uint8_t>(12, 13));
  EXPECT_EQ(d.describe()["labels"], dir / ("train-labels-idx1" + suffix));
}

INSTANTIATE_TEST_SUITE_P(PlainAndGzip, IdxDataset, ::testing::Values(false, true));

TEST(IdxFile, ExplicitLabelsFileAndPrefix) {
  TempDir dir;
  write_idx_pair(dir / "pixels.bin", dir / "targets.bin", 5, 2, 2, 3, false);
  DatasetOptions options;
  options.labels = dir / "targets.bin";
  const Dataset d("idx:" + dir / "pixels.bin", options);
  EXPECT_EQ(d.size(), 5u);
  EXPECT_EQ(d.num_classes(), 3);
  EXPECT_TRUE(contains(error_of("idx:" + dir / "pixels.bin"), "cannot derive the labels file"));
}

TEST(IdxFile, TruncatedGzipNamesFileAndOffset) {
  TempDir dir;
  std::vector<uint8_t> pixels(50 * 28 * 28);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 7919 >> 3);
  std::vector<uint8_t> gz = gzip_bytes(idx_bytes({50, 28, 28}, pixels));
  gz.resize(gz.size() / 2);
  const std::string images = dir / "t-images-idx3-ubyte.gz";
  write_bytes(images, gz);
  write_bytes(dir / "t-labels-idx1-ubyte.gz",
              gzip_bytes(idx_bytes({50}, std::vector<uint8_t>(50))));
  const std::string message = error_of(images);
  EXPECT_TRUE(contains(message, images + ": truncated gzip stream: input ends at byte offset " +
                                    std::to_string(gz.size())))
      << message;
}

TEST(IdxFile, CorruptGzipNamesFile) {
  TempDir dir;
  std::vector<uint8_t> gz = gzip_bytes(idx_bytes({2, 2, 2}, std::vector<uint8_t>(8, 1)));
  for (size_t i = 10; i < gz.size(); ++i) gz[i] ^= 0x5a;
  write_bytes(dir / "c-images-idx3-ubyte.gz", gz);
  write_bytes(dir / "c-labels-idx1-ubyte.gz", gzip_bytes(idx_bytes({2}, {0, 1})));
  const std::string message = error_of(dir / "c-images-idx3-ubyte.gz");
  EXPECT_TRUE(contains(message, dir / "c-images-idx3-ubyte.gz: corrupt gzip data")) << message;
}

TEST(IdxFile, BadMagicNamesFile) {
  TempDir dir;
  write_bytes(dir / "m-images-idx3-ubyte", idx_bytes({2}, {0, 1}));  // a labels file
  write_bytes(dir / "m-labels-idx1-ubyte", idx_bytes({2}, {0, 1}));
  EXPECT_EQ(error_of(dir / "m-images-idx3-ubyte"),
            dir / "m-images-idx3-ubyte" +
                ": bad IDX magic 0x00000801 at byte offset 0 (expected 0x00000803, an IDX "
                "images file)");
}

TEST(IdxFile, TruncatedDataNamesOffsets) {
  TempDir dir;
  std::vector<uint8_t> bytes = idx_bytes({3, 2, 2}, std::vector<uint8_t>(12, 9));
  bytes.resize(bytes.size() - 5);
  write_bytes(dir / "s-images-idx3-ubyte", bytes);
  write_bytes(dir / "s-labels-idx1-ubyte", idx_bytes({3}, {0, 1, 2}));
  EXPECT_EQ(error_of(dir / "s-images-idx3-ubyte"),
            dir / "s-images-idx3-ubyte" +
                ": truncated IDX data: the header promises 12 bytes ending at byte offset 28, "
                "the data ends at byte offset 23");
}

TEST(IdxFile, LabelCountMustMatch) {
  TempDir dir;
  write_bytes(dir / "n-images-idx3-ubyte", idx_bytes({3, 1, 1}, {1, 2, 3}));
  write_bytes(dir / "n-labels-idx1-ubyte", idx_bytes({2}, {0, 1}));
  EXPECT_EQ(error_of(dir / "n-images-idx3-ubyte"),
            dir / "n-labels-idx1-ubyte: 2 labels for 3 images in " + dir / "n-images-idx3-ubyte");
}

TEST(IdxFile, MissingLabelsFile) {
  TempDir dir;
  write_bytes(dir / "o-images-idx3-ubyte", idx_bytes({1, 1, 1}, {1}));
  EXPECT_TRUE(contains(error_of(dir / "o-images-idx3-ubyte"),
                       dir / "o-labels-idx1-ubyte: no such file or directory"));
}

TEST(FashionMnist, LoadsTrainAndTestSplits) {
  const std::string root = "/usr/share/datasets/fashion-mnist";
  if (!std::filesystem::exists(root)) GTEST_SKIP() << root << " is absent (dataset-fashion-mnist)";
  const Dataset train(root + "/train-images-idx3-ubyte.gz");
  const Dataset test(root + "/t10k-images-idx3-ubyte.gz");
  EXPECT_EQ(train.size(), 60000u);
  EXPECT_EQ(test.size(), 10000u);
  for (const Dataset* d : {&train, &test}) {
    EXPECT_EQ(d->class_names(),
              (std::vector<std::string>{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}));
    std::vector<int64_t> per_class(10);
    for (const Sample& s : d->samples()) per_class.at(s.label)++;
    for (int64_t n : per_class) EXPECT_EQ(n, static_cast<int64_t>(d->size() / 10));
    const image::Image im = d->image(d->size() - 1);
    EXPECT_EQ(im.width, 28);
    EXPECT_EQ(im.height, 28);
  }
  // The first training image is an ankle boot (9), the first test image too.
  EXPECT_EQ(train.sample(0).label, 9);
  EXPECT_EQ(test.sample(0).label, 9);
}

}  // namespace
}  // namespace vpet::data
