// AtomicOutput: the destination appears only on commit, complete; nothing
// (no destination, no temporary) is left when the writer gives up.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "vpet/error.h"
#include "vpet/io/atomic_file.h"

namespace vpet::io {
namespace {

namespace fs = std::filesystem;

class AtomicFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "vpet-atomic-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::size_t entries() const {
    return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir_), {}));
  }
  fs::path dir_;
};

TEST_F(AtomicFileTest, CommitMovesTheCompleteFileIntoPlace) {
  {
    AtomicOutput out(path("out.bin"));
    out.write("abc", 3);
    EXPECT_FALSE(fs::exists(path("out.bin")));
    EXPECT_EQ(entries(), 1u);  // the temporary
    out.write("def", 3);
    EXPECT_EQ(out.bytes_written(), 6u);
    out.commit();
  }
  std::ifstream in(path("out.bin"), std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  EXPECT_EQ(s.str(), "abcdef");
  EXPECT_EQ(entries(), 1u);  // no temporary left behind
  // Permissions follow the umask like an ordinary open, not mkstemp's 0600.
  const mode_t mask = umask(0);
  umask(mask);
  EXPECT_EQ(fs::status(path("out.bin")).permissions(), static_cast<fs::perms>(0666 & ~mask));
}

TEST_F(AtomicFileTest, ExceptionLeavesNeitherFileNorTemporary) {
  try {
    AtomicOutput out(path("out.bin"));
    out.write("partial", 7);
    throw std::runtime_error("failure mid-write");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(entries(), 0u);
}

TEST_F(AtomicFileTest, AFailedRunKeepsThePreviousFile) {
  std::ofstream(path("out.bin")) << "old";
  {
    AtomicOutput out(path("out.bin"));
    out.write("new", 3);
  }
  std::ifstream in(path("out.bin"));
  std::string content;
  in >> content;
  EXPECT_EQ(content, "old");
  EXPECT_EQ(entries(), 1u);
}

TEST_F(AtomicFileTest, UnwritableDirectoryIsAnError) {
  try {
    AtomicOutput out(path("no/such/dir/out.bin"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no/such/dir/out.bin"), std::string::npos);
  }
  EXPECT_THROW(AtomicOutput(""), UsageError);
}

}  // namespace
}  // namespace vpet::io
