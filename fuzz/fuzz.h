// What every fuzz target shares (fuzz/README.md). A target is one file in
// fuzz/targets/, written as
//
//   VPET_FUZZ_TARGET(npy) {
//     vpet::fuzz::expect_clean_failure([&] { vpet::io::decode_npy(data, size, "fuzz.npy"); });
//     return 0;
//   }
//
// Built with -DVPET_FUZZ_LIBFUZZER (build-fuzz, clang), the body is the
// target's LLVMFuzzerTestOneInput; built without it (unit_fuzz, gcc), it is
// registered under its name and the replay test runs it over the target's
// corpus and regression inputs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "vpet/model/checkpoint.h"

namespace vpet::fuzz {

using Entry = int (*)(const std::uint8_t* data, std::size_t size);

// Replay builds: the targets by name.
bool register_target(const char* name, Entry entry);
const std::map<std::string, Entry>& targets();

// Runs `body`. vpet::Error and vpet::UsageError are what bad input must end
// in; any other exception (a library's message leaking through, bad_alloc)
// is a finding: it is printed and the process aborts, so that libFuzzer keeps
// the input and the replay test fails. With VPET_FUZZ_VERBOSE set, the
// message of an expected error is printed.
void expect_clean_failure(const std::function<void()>& body);

// The input as a file, for loaders that take a path: an anonymous memory
// file (memfd) named /proc/self/fd/N, closed when this goes.
class InputFile {
 public:
  InputFile(const std::uint8_t* data, std::size_t size);
  ~InputFile();
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  int fd_ = -1;
  std::string path_;
};

// The tiny random ViT the corpus was made with (fuzz/make_corpus.sh), so
// that mutated files keep its fingerprint and reach the code past the check.
extern const char* const kTinyModel;
model::Backbone tiny_backbone();

// A folder, made once per process and removed at exit, holding a.png,
// b.jpg and sub/c.png: the images split and list corpora refer to.
const std::string& image_folder();

// The input as a dataset file of `kind` ("list", "json", "csv"), its images
// relative to image_folder(), listed as Dataset("KIND:FILE") lists it.
void listed_dataset(const std::uint8_t* data, std::size_t size, const std::string& kind);

}  // namespace vpet::fuzz

#ifdef VPET_FUZZ_LIBFUZZER
#define VPET_FUZZ_TARGET(name) \
  extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
#else
#define VPET_FUZZ_TARGET(name)                                        \
  static int fuzz_##name(const std::uint8_t* data, std::size_t size); \
  [[maybe_unused]] static const bool fuzz_registered_##name =         \
      vpet::fuzz::register_target(#name, fuzz_##name);                \
  static int fuzz_##name(const std::uint8_t* data, std::size_t size)
#endif
