// Output files that appear under their final name only when complete.
//
// AtomicOutput writes to a temporary file beside the destination and renames
// it over the destination on commit(). If the object is destroyed without a
// commit (an exception, an early return) or the process is stopped by
// SIGINT/SIGTERM/SIGHUP (where the program has not taken those signals over
// itself), the temporary is removed: a failed run never leaves
// a half-written file under the final name. The path "-" means standard
// output, which is written directly (a pipe cannot be renamed); writing
// binary data to a terminal is refused with a UsageError.
#pragma once

#include <cstddef>
#include <cstdio>
#include <string>

namespace vpet::io {

class AtomicOutput {
 public:
  // Opens the temporary (or stdout for "-"). Throws vpet::Error when the
  // directory is not writable, vpet::UsageError for binary to a terminal.
  explicit AtomicOutput(std::string path, bool binary = true);
  ~AtomicOutput();
  AtomicOutput(const AtomicOutput&) = delete;
  AtomicOutput& operator=(const AtomicOutput&) = delete;

  // Writes all bytes; throws vpet::Error naming the destination on failure.
  void write(const void* data, std::size_t size);
  void flush();
  // Flushes, syncs and renames the temporary over the destination.
  void commit();

  const std::string& path() const { return path_; }
  bool is_stdout() const { return path_ == "-"; }
  std::size_t bytes_written() const { return written_; }

 private:
  void discard() noexcept;

  std::string path_;
  std::string temp_path_;
  std::FILE* file_ = nullptr;
  std::size_t written_ = 0;
  bool committed_ = false;
};

}  // namespace vpet::io
