// AtomicOutput: the destination appears only on commit, complete; nothing
// (no destination, no temporary) is left when the writer gives up.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "vpet/error.h"
#include "vpet/io/atomic_file.h"
#include "vpet/io/output_set.h"

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

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_all(const std::string& path, const std::string& bytes) {
  AtomicOutput out(path);
  out.write(bytes.data(), bytes.size());
  out.commit();
}

// A FIFO is written in place: its reader gets the bytes and it stays a FIFO.
TEST_F(AtomicFileTest, AFifoIsWrittenInPlace) {
  ASSERT_EQ(mkfifo(path("p").c_str(), 0600), 0);
  std::string received;
  std::thread reader([&] { received = read_file(path("p")); });
  write_all(path("p"), "through the pipe");
  reader.join();
  EXPECT_EQ(received, "through the pipe");
  struct stat st {};
  ASSERT_EQ(lstat(path("p").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  EXPECT_EQ(entries(), 1u);
}

// A character device (a copy of /dev/null's node, where mknod is allowed)
// stays a character device.
TEST_F(AtomicFileTest, ACharacterDeviceIsWrittenInPlace) {
  if (mknod(path("null").c_str(), S_IFCHR | 0666, makedev(1, 3)) != 0) {
    GTEST_SKIP() << "mknod is not allowed here: " << std::strerror(errno);
  }
  write_all(path("null"), "gone");
  struct stat st {};
  ASSERT_EQ(lstat(path("null").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(entries(), 1u);
  const OutputTarget target = resolve_output("/dev/null");
  EXPECT_EQ(target.mode, OutputMode::kInPlace);
  EXPECT_TRUE(target.is_character_device);
}

// A symlink is replaced at its target; the link stays a link.
TEST_F(AtomicFileTest, ASymlinkIsReplacedAtItsTarget) {
  fs::create_directory(path("real"));
  std::ofstream(path("real/out.bin")) << "old";
  fs::create_symlink("real/out.bin", path("link"));
  fs::create_symlink("link", path("link2"));
  write_all(path("link2"), "new");
  EXPECT_TRUE(fs::is_symlink(path("link")));
  EXPECT_TRUE(fs::is_symlink(path("link2")));
  EXPECT_EQ(read_file(path("real/out.bin")), "new");
  EXPECT_EQ(std::distance(fs::directory_iterator(path("real")), {}), 1);
  // A dangling link creates its target.
  fs::create_symlink("real/new.bin", path("dangling"));
  write_all(path("dangling"), "made");
  EXPECT_TRUE(fs::is_symlink(path("dangling")));
  EXPECT_EQ(read_file(path("real/new.bin")), "made");
}

// /dev/fd/N is that descriptor, written at its own offset and flags.
TEST_F(AtomicFileTest, ADescriptorPathWritesThatDescriptor) {
  std::ofstream(path("log")) << "first;";
  const int fd = ::open(path("log").c_str(), O_WRONLY | O_APPEND);
  ASSERT_GE(fd, 0);
  write_all("/dev/fd/" + std::to_string(fd), "second");
  ::close(fd);
  EXPECT_EQ(read_file(path("log")), "first;second");
  EXPECT_THROW(AtomicOutput("/dev/fd/987"), Error);
}

TEST_F(AtomicFileTest, ReplacingKeepsTheFilesPermissions) {
  std::ofstream(path("out.bin")) << "old";
  fs::permissions(path("out.bin"), static_cast<fs::perms>(0640));
  write_all(path("out.bin"), "new");
  EXPECT_EQ(fs::status(path("out.bin")).permissions(), static_cast<fs::perms>(0640));
}

TEST_F(AtomicFileTest, ADirectoryIsRefusedByName) {
  fs::create_directory(path("d"));
  try {
    AtomicOutput out(path("d"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("directory"), std::string::npos) << e.what();
  }
  EXPECT_THROW(check_output_writable(path("d")), Error);
  EXPECT_NO_THROW(check_output_writable(path("fresh")));
  EXPECT_EQ(entries(), 1u);  // the probe's temporary is gone again
}

// A temporary whose writer was killed (its PID is gone) is removed by the
// next writer of the same file; a live writer's temporary is not.
TEST_F(AtomicFileTest, TheNextWriterRemovesTemporariesOfDeadWriters) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);
  const std::string stale = path("out.bin.tmp." + std::to_string(child) + ".AbC123");
  const std::string live = path("out.bin.tmp." + std::to_string(getppid()) + ".XyZ789");
  const std::string other = path("other.bin.tmp." + std::to_string(child) + ".AbC123");
  for (const auto& name : {stale, live, other}) std::ofstream(name) << "x";
  write_all(path("out.bin"), "new");
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(live));
  EXPECT_TRUE(fs::exists(other));
}

// OutputSet: the outputs of one run are checked before the work and appear
// together after it; two names for one file are refused.
TEST_F(AtomicFileTest, OutputSetOutputsAppearTogetherOnCommit) {
  OutputSet outputs;
  AtomicOutput& a = outputs.open("-o/--output", path("a.vpet"));
  AtomicOutput& b = outputs.open("--export", path("b.bin"));
  outputs.check("--checkpoint", path("ck.vpet"));
  a.write("A", 1);
  b.write("B", 1);
  EXPECT_FALSE(fs::exists(path("a.vpet")));
  EXPECT_FALSE(fs::exists(path("ck.vpet")));  // checked, not created
  outputs.commit();
  EXPECT_EQ(read_file(path("a.vpet")), "A");
  EXPECT_EQ(read_file(path("b.bin")), "B");
  EXPECT_EQ(entries(), 2u);
}

TEST_F(AtomicFileTest, OutputSetAFailureBeforeCommitLeavesNoneAndThePreviousFiles) {
  std::ofstream(path("a.vpet")) << "old";
  {
    OutputSet outputs;
    outputs.open("-o/--output", path("a.vpet")).write("new", 3);
    outputs.open("--export", "/dev/full").write("buffered", 8);
    EXPECT_THROW(outputs.commit(), Error);  // /dev/full fails while finishing: nothing moves
  }
  EXPECT_EQ(read_file(path("a.vpet")), "old");
  EXPECT_EQ(entries(), 1u);
}

TEST_F(AtomicFileTest, OutputSetTwoNamesForOneFileAreAUsageError) {
  fs::create_directory(path("sub"));
  std::ofstream(path("exists")) << "x";
  fs::create_symlink("exists", path("link"));
  OutputSet outputs;
  outputs.open("-o/--output", path("new.vpet"));
  EXPECT_THROW(outputs.check("--checkpoint", path("sub/../new.vpet")), UsageError);
  outputs.check("--metrics", path("exists"));
  try {
    outputs.open("--export", path("link"));
    FAIL();
  } catch (const UsageError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("--export and --metrics name the same file"), std::string::npos)
        << message;
  }
  // Character devices may be named twice: all of it goes nowhere.
  outputs.check("--a", "/dev/null");
  EXPECT_NO_THROW(outputs.check("--b", "/dev/null"));
  EXPECT_THROW(outputs.check("--c", path("missing/x")), Error);
}

// keep_previous: the replaced file stays as TARGET.prev, the older copy
// there replaced; a first write keeps nothing.
TEST_F(AtomicFileTest, KeepPreviousKeepsTheReplacedFile) {
  const auto write_kept = [&](const std::string& bytes) {
    AtomicOutput out(path("ck.vpet"));
    out.keep_previous(".prev");
    out.write(bytes.data(), bytes.size());
    out.commit();
  };
  write_kept("one");
  EXPECT_FALSE(fs::exists(path("ck.vpet.prev")));
  write_kept("two");
  write_kept("three");
  EXPECT_EQ(read_file(path("ck.vpet")), "three");
  EXPECT_EQ(read_file(path("ck.vpet.prev")), "two");
  EXPECT_EQ(entries(), 2u);
}

}  // namespace
}  // namespace vpet::io
