#include "fuzz/fuzz.h"

#include <sys/mman.h>
#include <unistd.h>

#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <typeinfo>

#include "vpet/data/dataset.h"
#include "vpet/error.h"
#include "vpet/image/image.h"
#include "vpet/model/random_vit.h"

namespace vpet::fuzz {
namespace {

std::map<std::string, Entry>& registry() {
  static std::map<std::string, Entry> targets;
  return targets;
}

[[noreturn]] void finding(const char* what, const char* message) {
  std::fprintf(stderr, "vpet fuzz: %s escaped the program's error handling: %s\n", what, message);
  std::abort();
}

// One thread: the targets' work is tiny, and parallel fuzzing runs one
// process per core.
[[maybe_unused]] const bool one_thread = [] {
  torch::set_num_threads(1);
  return true;
}();

// Images of at most 4M pixels: the programs decode up to Pillow's
// decompression-bomb limit (178M, as PIL does in about 2 s), which an
// instrumented build takes longer than the 10 s timeout to convert (CI's
// smoke found a 373-byte CMYK JPEG of 9217x16640). Larger headers are
// refused by the same check, so the parsers are explored as before.
[[maybe_unused]] const bool small_images = [] {
  image::set_max_image_pixels(4L << 20);
  return true;
}();

}  // namespace

bool register_target(const char* name, Entry entry) {
  registry()[name] = entry;
  return true;
}

const std::map<std::string, Entry>& targets() {
  return registry();
}

void expect_clean_failure(const std::function<void()>& body) {
  // VPET_FUZZ_VERBOSE=1 prints the message bad input ends in.
  static const bool verbose = std::getenv("VPET_FUZZ_VERBOSE") != nullptr;
  try {
    body();
  } catch (const Error& e) {
    if (verbose) std::fprintf(stderr, "vpet fuzz: error: %s\n", e.what());
  } catch (const UsageError& e) {
    if (verbose) std::fprintf(stderr, "vpet fuzz: usage error: %s\n", e.what());
  } catch (const c10::Error& e) {
    finding("c10::Error", e.what_without_backtrace());
  } catch (const std::exception& e) {
    finding(typeid(e).name(), e.what());
  }
}

InputFile::InputFile(const std::uint8_t* data, std::size_t size) {
  fd_ = memfd_create("vpet-fuzz", MFD_CLOEXEC);
  if (fd_ < 0) finding("memfd_create", "cannot make the input file");
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::write(fd_, data + done, size - done);
    if (n <= 0) finding("write", "cannot write the input file");
    done += static_cast<std::size_t>(n);
  }
  path_ = "/proc/self/fd/" + std::to_string(fd_);
}

InputFile::~InputFile() {
  ::close(fd_);
}

const char* const kTinyModel = "random:width=16,depth=2,heads=2,patch=4,img=8,chans=3";

model::Backbone tiny_backbone() {
  return model::random_backbone(kTinyModel);
}

const std::string& image_folder() {
  namespace fs = std::filesystem;
  static const std::string folder = [] {
    std::string pattern = (fs::temp_directory_path() / "vpet-fuzz-XXXXXX").string();
    if (!mkdtemp(pattern.data())) finding("mkdtemp", "cannot make the image folder");
    fs::create_directory(fs::path(pattern) / "sub");
    for (const char* name : {"a.png", "b.jpg", "sub/c.png"}) {
      std::ofstream(fs::path(pattern) / name).put('\0');
    }
    static const std::string removed = pattern;
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(removed, ec);
    });
    return pattern;
  }();
  return folder;
}

void listed_dataset(const std::uint8_t* data, std::size_t size, const std::string& kind) {
  const InputFile file(data, size);
  data::DatasetOptions options;
  options.root = image_folder();
  expect_clean_failure([&] { (void)data::Dataset(kind + ":" + file.path(), options); });
}

}  // namespace vpet::fuzz
