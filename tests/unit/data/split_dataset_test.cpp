// JSON and CSV splits: VPT's FGVC JSON ({"path": label}, labels renumbered in
// increasing order as its loader does), CSV with a header line, class names
// in first-seen order, and the refusals naming the file and the key or line.
#include <gtest/gtest.h>

#include "test_files.h"
#include "vpet/data/dataset.h"
#include "vpet/error.h"

namespace vpet::data {
namespace {

using test_files::error_of;
using test_files::TempDir;
using test_files::write_png;
using test_files::write_text;

class SplitDataset : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"images/001.Black_footed_Albatross/a.png", "images/a b,c.png",
                             "images/005.Crested_Auklet/b.png", "images/c.png"}) {
      write_png(dir / name, 4, 4, 3, 100);
    }
  }
  TempDir dir;
};

TEST_F(SplitDataset, VptsJsonRenumbersLabelsInIncreasingOrder) {
  write_text(dir / "train.json",
             R"({"images/005.Crested_Auklet/b.png": 4, "images/001.Black_footed_Albatross/a.png": 0,
                 "images/c.png": 7})");
  const Dataset d(dir / "train.json");
  EXPECT_EQ(d.kind(), DatasetKind::kJson);
  ASSERT_EQ(d.size(), 3u);
  // File order kept; classes sorted(set(labels)) = 0, 4, 7 -> 0, 1, 2.
  EXPECT_EQ(d.sample(0).path, dir / "images/005.Crested_Auklet/b.png");
  EXPECT_EQ(d.sample(0).label, 1);
  EXPECT_EQ(d.sample(1).label, 0);
  EXPECT_EQ(d.sample(2).label, 2);
  EXPECT_EQ(d.class_names(), (std::vector<std::string>{"0", "4", "7"}));
}

TEST_F(SplitDataset, RootAndClassNames) {
  write_text(dir / "splits/val.json", R"({"images/c.png": "gull", "images/a b,c.png": "tern",
                                           "images/005.Crested_Auklet/b.png": "gull"})");
  DatasetOptions options;
  options.root = dir.str();
  const Dataset d("json:" + (dir / "splits/val.json"), options);
  EXPECT_EQ(d.class_names(), (std::vector<std::string>{"gull", "tern"}));
  EXPECT_EQ(d.sample(2).label, 0);
  EXPECT_EQ(d.describe()["root"], dir.str());
  // Without --root the paths are relative to the file's folder: missing there.
  EXPECT_NE(error_of(dir / "splits/val.json").find("val.json: key 'images/c.png': no such image"),
            std::string::npos)
      << error_of(dir / "splits/val.json");
}

TEST_F(SplitDataset, CsvWithAHeaderQuotesAndNames) {
  write_text(dir / "train.csv",
             "label,path\r\n"
             "3,images/c.png\r\n"
             "1,\"images/a b,c.png\"\r\n");
  const Dataset d(dir / "train.csv");
  EXPECT_EQ(d.kind(), DatasetKind::kCsv);
  EXPECT_EQ(d.sample(1).path, dir / "images/a b,c.png");
  EXPECT_EQ(d.num_classes(), 4);  // numbers as given, as in list files
  write_text(dir / "names.csv", "path,label\nimages/c.png,gull\nimages/a b,c.png,tern\n");
  EXPECT_NE(error_of(dir / "names.csv").find("names.csv:3: 3 fields, but the header has 2"),
            std::string::npos)
      << error_of(dir / "names.csv");
}

TEST_F(SplitDataset, BadSplitsNameTheFileAndThePlace) {
  const struct {
    const char* name;
    const char* text;
    const char* says;
  } cases[] = {
      {"dup.json", R"({"images/c.png": 1, "images/c.png": 2})", "'images/c.png' is listed twice"},
      {"nested.json", R"({"images/c.png": {"label": 1}})",
       "key 'images/c.png': the label is an object"},
      {"frac.json", R"({"images/c.png": 1.5})", "the label is a fraction"},
      {"neg.json", R"({"images/c.png": -1})", "a negative number"},
      {"array.json", R"([["images/c.png", 1]])", "the top level is an array"},
      {"broken.json", R"({"images/c.png": 1,)", "not valid JSON at byte"},
      {"empty.json", R"({})", "lists no images"},
      {"huge.json", R"({"images/c.png": 9999999})", "is too large"},
      {"missing.json", R"({"images/nope.png": 0})", "key 'images/nope.png': no such image"},
      {"quote.csv", "path,label\n\"images/c.png,1\n", "quote.csv:2: a quoted field does not end"},
      {"one.csv", "path\nimages/c.png\n", "one.csv:1: the header needs two columns"},
      {"blank.csv", "path,label\n,1\n", "blank.csv:2: empty path"},
  };
  for (const auto& c : cases) {
    write_text(dir / c.name, c.text);
    const std::string message = error_of(dir / c.name);
    EXPECT_NE(message.find(c.name), std::string::npos) << message;
    EXPECT_NE(message.find(c.says), std::string::npos) << c.name << ": " << message;
  }
}

}  // namespace
}  // namespace vpet::data
