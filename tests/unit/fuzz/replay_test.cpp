// Replays every fuzz target's committed inputs (fuzz/corpus/<target>/ and
// fuzz/regressions/<target>/) through its entry point, built here without
// libFuzzer: an input that once crashed a target keeps failing this test
// until the crash is fixed. One test per target: unit_fuzz --gtest_filter='Replay.png'.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <utility>
#include <vector>

#include "fuzz/fuzz.h"

namespace fs = std::filesystem;

namespace {

const fs::path kFuzzDir = VPET_FUZZ_DIR;

std::vector<fs::path> inputs(const fs::path& folder) {
  std::vector<fs::path> files;
  if (fs::is_directory(folder)) {
    for (const auto& entry : fs::directory_iterator(folder)) {
      if (entry.is_regular_file()) files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

void replay(const std::string& name, vpet::fuzz::Entry entry) {
  const std::vector<fs::path> corpus = inputs(kFuzzDir / "corpus" / name);
  EXPECT_FALSE(corpus.empty()) << "no seed corpus in fuzz/corpus/" << name;
  std::vector<fs::path> all = corpus;
  for (const fs::path& file : inputs(kFuzzDir / "regressions" / name)) all.push_back(file);
  for (const fs::path& file : all) {
    SCOPED_TRACE(file.string());
    std::ifstream in(file, std::ios::binary);
    const std::vector<char> bytes{std::istreambuf_iterator<char>(in), {}};
    // An entry point returns 0; a finding aborts the process, naming it.
    EXPECT_EQ(entry(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()), 0);
  }
}

class ReplayTest : public testing::Test {
 public:
  ReplayTest(std::string name, vpet::fuzz::Entry entry) : name_(std::move(name)), entry_(entry) {}
  void TestBody() override { replay(name_, entry_); }

 private:
  std::string name_;
  vpet::fuzz::Entry entry_;
};

TEST(Replay, EveryInputFolderHasItsTarget) {
  for (const char* kind : {"corpus", "regressions"}) {
    if (!fs::is_directory(kFuzzDir / kind)) continue;
    for (const auto& entry : fs::directory_iterator(kFuzzDir / kind)) {
      EXPECT_TRUE(vpet::fuzz::targets().count(entry.path().filename().string()))
          << entry.path() << " belongs to no target in fuzz/targets/";
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  for (const auto& [name, entry] : vpet::fuzz::targets()) {
    testing::RegisterTest(
        "Replay", name.c_str(), nullptr, nullptr, __FILE__, __LINE__,
        [name = name, entry = entry]() -> testing::Test* { return new ReplayTest(name, entry); });
  }
  return RUN_ALL_TESTS();
}
