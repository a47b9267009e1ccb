// Spec detection, class subsets, seeded sampling and describe().
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "test_files.h"
#include "vpet/data/dataset.h"
#include "vpet/error.h"

namespace vpet::data {
namespace {

using test_files::TempDir;
using test_files::write_idx_pair;
using test_files::write_png;
using test_files::write_text;

// 100 IDX samples, labels i % 10.
struct IdxFixture {
  TempDir dir;
  std::string spec = dir / "d-images-idx3-ubyte";
  IdxFixture() { write_idx_pair(spec, dir / "d-labels-idx1-ubyte", 100, 2, 2, 10, false); }
};

std::vector<int64_t> indices(const Dataset& d) {
  std::vector<int64_t> out;
  for (const Sample& s : d.samples()) out.push_back(s.index);
  return out;
}

TEST(DatasetSpec, DetectsKindAndHonoursPrefixes) {
  TempDir dir;
  write_png(dir / "f/a/x.png", 1, 1, 1, 0);
  write_text(dir / "list.txt", "f/a/x.png 0\n");
  write_idx_pair(dir / "t-images-idx3-ubyte", dir / "t-labels-idx1-ubyte", 3, 1, 1, 2, false);
  EXPECT_EQ(Dataset(dir / "f").kind(), DatasetKind::kFolder);
  EXPECT_EQ(Dataset(dir / "list.txt").kind(), DatasetKind::kList);
  EXPECT_EQ(Dataset(dir / "t-images-idx3-ubyte").kind(), DatasetKind::kIdx);
  EXPECT_EQ(Dataset("folder:" + dir / "f").kind(), DatasetKind::kFolder);
  const Dataset forced("list:" + dir / "list.txt");
  EXPECT_EQ(forced.kind(), DatasetKind::kList);
  EXPECT_EQ(forced.path(), dir / "list.txt");
  EXPECT_EQ(forced.spec(), "list:" + dir / "list.txt");
  EXPECT_THROW(Dataset("list:" + dir / "f"), Error);
  EXPECT_THROW(Dataset("folder:" + dir / "list.txt"), Error);
}

TEST(DatasetSpec, MissingPathSaysSo) {
  TempDir dir;
  for (const std::string& spec : {dir / "nothing", "folder:" + dir / "nothing"}) {
    try {
      Dataset d(spec);
      FAIL() << "expected an error for " << spec;
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()), dir / "nothing: no such file or directory");
    }
  }
}

TEST(DatasetClasses, SubsetByNameOrLabelIsRelabelledInTheOrderGiven) {
  TempDir dir;
  for (const char* f : {"ant/1.png", "bee/1.png", "bee/2.png", "cat/1.png", "dog/1.png"}) {
    write_png(dir / (std::string("d/") + f), 1, 1, 1, 0);
  }
  DatasetOptions options;
  options.classes = {"dog", "1"};  // a name, and label 1 (bee)
  const Dataset d(dir / "d", options);
  EXPECT_EQ(d.class_names(), (std::vector<std::string>{"dog", "bee"}));
  ASSERT_EQ(d.size(), 3u);
  // Dataset order is kept; only the labels change.
  EXPECT_EQ(d.sample(0).label, 1);
  EXPECT_EQ(d.sample(0).index, 1);
  EXPECT_EQ(d.sample(1).label, 1);
  EXPECT_EQ(d.sample(2).label, 0);
  EXPECT_EQ(d.sample(2).index, 4);
  EXPECT_EQ(d.describe()["selection"]["classes"], (std::vector<std::string>{"dog", "1"}));
}

TEST(DatasetClasses, UnknownOrRepeatedClassIsAUsageError) {
  IdxFixture f;
  DatasetOptions options;
  options.classes = {"3", "10"};
  try {
    Dataset d(f.spec, options);
    FAIL() << "expected a usage error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown class '10'"), std::string::npos) << e.what();
  }
  options.classes = {"cat"};
  EXPECT_THROW(Dataset(f.spec, options), UsageError);
  options.classes = {"3", "3"};
  EXPECT_THROW(Dataset(f.spec, options), UsageError);
}

TEST(DatasetSampling, PerClassIsSeededAndKeepsOrder) {
  IdxFixture f;
  DatasetOptions options;
  options.per_class = 3;
  options.seed = 1;
  const Dataset a(f.spec, options), b(f.spec, options);
  options.seed = 2;
  const Dataset c(f.spec, options);
  ASSERT_EQ(a.size(), 30u);
  EXPECT_EQ(indices(a), indices(b));
  EXPECT_NE(indices(a), indices(c));
  const std::vector<int64_t> kept = indices(a);
  EXPECT_TRUE(std::is_sorted(kept.begin(), kept.end()));
  std::map<int64_t, int> per_class;
  for (const Sample& s : a.samples()) {
    per_class[s.label]++;
    EXPECT_EQ(s.label, s.index % 10);  // samples keep their own labels
  }
  for (const auto& [label, n] : per_class) EXPECT_EQ(n, 3) << "class " << label;
  EXPECT_EQ(per_class.size(), 10u);
}

TEST(DatasetSampling, PerClassRangesSplitOneDraw) {
  IdxFixture f;
  DatasetOptions options;
  options.seed = 3;
  options.per_class = 5;
  const Dataset all(f.spec, options);
  options.per_class = 4;
  const Dataset train(f.spec, options);
  options.per_class_from = 4;
  options.per_class = 1;
  const Dataset val(f.spec, options);
  ASSERT_EQ(train.size(), 40u);
  ASSERT_EQ(val.size(), 10u);
  std::vector<int64_t> joined = indices(train);
  for (int64_t i : indices(val)) {
    EXPECT_EQ(std::count(joined.begin(), joined.end(), i), 0) << i;
    joined.push_back(i);
  }
  std::sort(joined.begin(), joined.end());
  EXPECT_EQ(joined, indices(all));
  EXPECT_EQ(val.describe()["selection"]["per_class_from"], 4);
  options.per_class = 0;
  EXPECT_THROW(Dataset(f.spec, options), UsageError);
}

TEST(DatasetSampling, LimitIsSeededAndKeepsOrder) {
  IdxFixture f;
  DatasetOptions options;
  options.limit = 17;
  options.seed = 5;
  const std::vector<int64_t> a = indices(Dataset(f.spec, options));
  const std::vector<int64_t> b = indices(Dataset(f.spec, options));
  options.seed = 6;
  const std::vector<int64_t> c = indices(Dataset(f.spec, options));
  EXPECT_EQ(a.size(), 17u);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_TRUE(std::is_sorted(a.begin(), a.end()));
  options.limit = 1000;  // more than there are: all of them
  EXPECT_EQ(Dataset(f.spec, options).size(), 100u);
}

TEST(DatasetSampling, ClassesThenPerClassThenLimit) {
  IdxFixture f;
  DatasetOptions options;
  options.classes = {"7", "2"};
  options.per_class = 4;
  options.limit = 5;
  options.seed = 11;
  const Dataset d(f.spec, options);
  ASSERT_EQ(d.size(), 5u);
  for (const Sample& s : d.samples()) {
    EXPECT_TRUE(s.index % 10 == 7 || s.index % 10 == 2);
    EXPECT_EQ(s.label, s.index % 10 == 7 ? 0 : 1);
  }
  EXPECT_EQ(indices(d), indices(Dataset(f.spec, options)));
}

TEST(DatasetSampling, NegativeCountsAreUsageErrors) {
  IdxFixture f;
  DatasetOptions options;
  options.limit = -1;
  EXPECT_THROW(Dataset(f.spec, options), UsageError);
  options.limit = 0;
  options.per_class = -2;
  EXPECT_THROW(Dataset(f.spec, options), UsageError);
}

TEST(DatasetDescribe, RecordsSpecKindCountsAndSelection) {
  IdxFixture f;
  DatasetOptions options;
  options.per_class = 2;
  options.seed = 9;
  const nlohmann::json j = Dataset(f.spec, options).describe();
  EXPECT_EQ(j["spec"], f.spec);
  EXPECT_EQ(j["kind"], "idx");
  EXPECT_EQ(j["samples"], 20);
  EXPECT_EQ(j["listed"], 100);
  EXPECT_EQ(j["classes"].size(), 10u);
  EXPECT_EQ(j["selection"]["per_class"], 2);
  EXPECT_EQ(j["selection"]["limit"], 0);
  EXPECT_EQ(j["selection"]["seed"], 9);
}

}  // namespace
}  // namespace vpet::data
