#include <gtest/gtest.h>

#include "test_files.h"
#include "vpet/data/dataset.h"
#include "vpet/error.h"

namespace vpet::data {
namespace {

using test_files::TempDir;
using test_files::write_png;
using test_files::write_text;

std::vector<std::string> relative_paths(const Dataset& d, const TempDir& dir) {
  std::vector<std::string> out;
  for (const Sample& s : d.samples()) out.push_back(s.path.substr(dir.str().size() + 1));
  return out;
}

TEST(FolderDataset, ListsLikeTorchvisionImageFolder) {
  TempDir dir;
  const std::string root = dir / "data";
  // Written out of order; the walk sorts classes, directories and files.
  for (const char* f : {"dog/b.png", "dog/a.PNG", "cat/z.jpg", "cat/sub/x.png", "cat/sub-b/y.png",
                        "cat/a.jpeg", "cat/sub/deeper/w.png"}) {
    write_png(root + "/" + f, 2, 2, 3, 0);
  }
  write_text(root + "/cat/notes.txt", "ignored");
  write_text(root + "/cat/a.jpg.bak", "ignored");
  write_text(root + "/README", "a file at the top is not a class");
  const Dataset d(root);
  EXPECT_EQ(d.kind(), DatasetKind::kFolder);
  EXPECT_EQ(d.class_names(), (std::vector<std::string>{"cat", "dog"}));
  // torchvision's own listing of this tree (checked with make_dataset):
  // sorted(os.walk()) orders directories by their whole path, so "cat/sub-b"
  // falls between "cat/sub" and "cat/sub/deeper" ('-' < '/').
  EXPECT_EQ(relative_paths(d, dir),
            (std::vector<std::string>{"data/cat/a.jpeg", "data/cat/z.jpg", "data/cat/sub/x.png",
                                      "data/cat/sub-b/y.png", "data/cat/sub/deeper/w.png",
                                      "data/dog/a.PNG", "data/dog/b.png"}));
  std::vector<int64_t> labels, index;
  for (const Sample& s : d.samples()) {
    labels.push_back(s.label);
    index.push_back(s.index);
  }
  EXPECT_EQ(labels, (std::vector<int64_t>{0, 0, 0, 0, 0, 1, 1}));
  EXPECT_EQ(index, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6}));
}

TEST(FolderDataset, DecodesSampleImages) {
  TempDir dir;
  write_png(dir / "d/a/x.png", 3, 2, 1, 77);
  const Dataset d(dir / "d");
  const image::Image im = d.image(0);
  EXPECT_EQ(im.width, 3);
  EXPECT_EQ(im.height, 2);
  EXPECT_EQ(im.channels, 1);
  EXPECT_EQ(im.pixels, std::vector<uint8_t>(6, 77));
}

TEST(FolderDataset, EmptyClassFolderIsAnError) {
  TempDir dir;
  write_png(dir / "d/a/x.png", 2, 2, 3, 0);
  write_text(dir / "d/b/readme.txt", "no images here");
  try {
    Dataset d(dir / "d");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(dir / "d/b"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("no images"), std::string::npos) << e.what();
  }
}

TEST(FolderDataset, NoClassFoldersIsAnError) {
  TempDir dir;
  write_png(dir / "d/x.png", 2, 2, 3, 0);
  EXPECT_THROW(Dataset(dir / "d"), Error);
}

}  // namespace
}  // namespace vpet::data
