#include <gtest/gtest.h>

#include "test_files.h"
#include "vpet/data/dataset.h"
#include "vpet/error.h"

namespace vpet::data {
namespace {

using test_files::TempDir;
using test_files::write_text;

using test_files::error_of;

TEST(ListDataset, ParsesVtabStyleLines) {
  TempDir dir;
  const std::string list = dir / "cifar/train800.txt";
  write_text(list,
             "images/a.jpg 3\r\n"
             "\r\n"
             "# a comment line\n"
             "images/with space/b c.png\t 0\n"
             "   \n"
             "/abs/path.jpg 1\n"
             "images/d.png 12");  // no final newline
  const Dataset d(list);
  EXPECT_EQ(d.kind(), DatasetKind::kList);
  ASSERT_EQ(d.size(), 4u);
  EXPECT_EQ(d.sample(0).path, dir / "cifar/images/a.jpg");
  EXPECT_EQ(d.sample(0).label, 3);
  EXPECT_EQ(d.sample(1).path, dir / "cifar/images/with space/b c.png");
  EXPECT_EQ(d.sample(1).label, 0);
  EXPECT_EQ(d.sample(2).path, "/abs/path.jpg");
  EXPECT_EQ(d.sample(3).label, 12);
  EXPECT_EQ(d.sample(3).index, 3);
  ASSERT_EQ(d.num_classes(), 13);
  EXPECT_EQ(d.class_names().front(), "0");
  EXPECT_EQ(d.class_names().back(), "12");
}

TEST(ListDataset, BadLabelNamesFileAndLine) {
  TempDir dir;
  write_text(dir / "train800.txt", "a.jpg 1\nb.jpg 2\n\nc.jpg x\n");
  EXPECT_EQ(error_of(dir / "train800.txt"),
            dir / "train800.txt" + ":4: label 'x' is a class name, but " + dir / "train800.txt" +
                ":1 gives a class number ('1'); labels are all numbers or all names");
  write_text(dir / "neg.txt", "a.jpg 0\nb.jpg -1\n");
  EXPECT_NE(error_of(dir / "neg.txt").find(":2: label '-1' is a class name"), std::string::npos);
  write_text(dir / "big.txt", "a.jpg 99999999999999999999\n");
  EXPECT_NE(error_of(dir / "big.txt").find(":1: label 99999999999999999999 is too large"),
            std::string::npos);
}

TEST(ListDataset, ClassNamesAreNumberedInFirstSeenOrder) {
  TempDir dir;
  write_text(dir / "train.txt", "a.jpg tern\nb.jpg gull\nc.jpg tern\nd.jpg 0wl\n");
  const Dataset d(dir / "train.txt");
  EXPECT_EQ(d.class_names(), (std::vector<std::string>{"tern", "gull", "0wl"}));
  EXPECT_EQ(d.sample(2).label, 0);
  EXPECT_EQ(d.sample(3).label, 2);
}

TEST(ListDataset, MissingLabelNamesFileAndLine) {
  TempDir dir;
  write_text(dir / "val200.txt", "a.jpg 1\r\nb.jpg 2\r\nlonely.jpg\r\n");
  EXPECT_EQ(error_of(dir / "val200.txt"),
            dir / "val200.txt" + ":3: expected 'path label', found 'lonely.jpg'");
}

TEST(ListDataset, EmptyListIsAnError) {
  TempDir dir;
  write_text(dir / "test.txt", "\n# nothing\n");
  EXPECT_EQ(error_of(dir / "test.txt"), dir / "test.txt" + ": no 'path label' lines");
}

TEST(ListDataset, MissingFileIsAnError) {
  TempDir dir;
  EXPECT_EQ(error_of(dir / "nope.txt"), dir / "nope.txt" + ": no such file or directory");
}

TEST(ListDataset, UnreadableImageIsReportedWhenDecoded) {
  TempDir dir;
  write_text(dir / "l.txt", "missing.png 0\n");
  const Dataset d(dir / "l.txt");  // listing does not touch the images
  try {
    d.image(0);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(dir / "missing.png"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace vpet::data
