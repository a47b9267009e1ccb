// Output files that never destroy what they replace.
//
// What an output path names decides how it is written (vpet-format(5),
// OUTPUT FILES):
//
//  - a regular file, or a path that does not exist yet: written to a
//    temporary beside it (`NAME.tmp.PID.XXXXXX`) and renamed over it on
//    commit(), so the file appears under its name only when complete and a
//    failed run leaves the previous file untouched;
//  - a symbolic link: the same, at the file the link points to (the link
//    stays a link);
//  - anything else that exists (a FIFO, a character device such as
//    /dev/null, a socket): opened and written in place. Renaming a file over
//    it would destroy it (as root, /dev/null itself);
//  - "-", /dev/stdout, /dev/stderr, /dev/fd/N, /proc/self/fd/N: that file
//    descriptor, written in place at its own offset and flags (a shell's
//    `>>` still appends; `<(...)`/`>(...)` work).
//
// Binary data to a terminal is refused with a UsageError. A temporary is
// removed when its writer is destroyed without a commit (an exception, an
// early return) and when the process is stopped by SIGINT, SIGTERM, SIGHUP,
// SIGQUIT or SIGPIPE (install_signal_cleanup()). Only SIGKILL can leave one;
// the next writer of the same file removes those whose process is gone.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace vpet::io {

// How an output path is written (see above).
enum class OutputMode {
  kReplace,  // temporary + rename over the (resolved) target
  kInPlace,  // opened and written where it is
};

// Where an output path leads, found without opening or creating anything.
struct OutputTarget {
  std::string path;    // as the user gave it, for messages
  std::string target;  // kReplace: the file to rename over (symlinks followed)
  OutputMode mode = OutputMode::kReplace;
  int descriptor = -1;  // "-", /dev/stdout, /dev/fd/N...: the descriptor written
  bool exists = false;
  // The file's identity (when it exists), to tell two names of one file apart.
  std::uint64_t device = 0, inode = 0;
  bool is_character_device = false;
};

// Classifies `path`. Throws vpet::UsageError for "" and vpet::Error naming
// the path for a directory, a symlink loop or a descriptor that is not open.
OutputTarget resolve_output(const std::string& path);

// Checks, before the work starts, that `path` can be written: the directory
// of a replaced file takes a temporary (created and removed again); an
// in-place file is writable. Opens nothing in place (a FIFO's reader would
// see an end of file). Throws vpet::Error naming the path.
void check_output_writable(const std::string& path);

// Installs the handlers that remove pending temporaries on SIGINT, SIGTERM,
// SIGHUP, SIGQUIT and SIGPIPE, for each of them that no handler has taken
// (an ignored SIGHUP or SIGPIPE stays ignored, as nohup wants; an ignored
// SIGINT or SIGQUIT, as a shell starts `cmd &`, is taken over). The fatal signals then end the
// process as before (the shell sees 128 + signal); SIGPIPE, a reader that went away, ends it
// quietly with status 1. Every vpet program calls this first (cli::run_program); AtomicOutput calls
// it too. Idempotent.
void install_signal_cleanup();

// Removes every pending temporary. Async-signal-safe: for signal handlers
// that take a signal over and still end the process (InterruptGuard).
void remove_pending_temporaries() noexcept;

class AtomicOutput {
 public:
  // Opens the temporary (or the file in place). Throws vpet::Error naming
  // the path when it cannot be written, vpet::UsageError for binary data to
  // a terminal.
  explicit AtomicOutput(std::string path, bool binary = true);
  ~AtomicOutput();
  AtomicOutput(const AtomicOutput&) = delete;
  AtomicOutput& operator=(const AtomicOutput&) = delete;

  // Writes all bytes; throws vpet::Error naming the destination on failure
  // (vpet::OutputClosed when the reader of a pipe went away).
  void write(const void* data, std::size_t size);
  void flush();
  // Flushes, syncs and closes the file: all that can fail before the rename.
  // Further writes throw. OutputSet finishes every output before it commits any.
  void finish();
  // Finishes, then renames the temporary over the destination (in place:
  // finishing is all).
  void commit();
  // On commit, the file this output replaces stays as TARGET + `suffix`
  // (replacing an older one there): a hard link, so the destination is never
  // missing. For checkpoints: a resume whose checkpoint was damaged can fall
  // back on the one before. Nothing happens where there is no file to keep.
  void keep_previous(const std::string& suffix) { previous_suffix_ = suffix; }

  const std::string& path() const { return path_; }
  // The name used in messages: "standard output" for "-".
  std::string display_name() const;
  bool is_stdout() const { return path_ == "-"; }
  bool in_place() const { return mode_ == OutputMode::kInPlace; }
  std::size_t bytes_written() const { return written_; }

 private:
  [[noreturn]] void fail(const std::string& what, int error_number) const;
  void keep_replaced_file() noexcept;
  void discard() noexcept;

  std::string path_;
  std::string target_;     // kReplace: the file renamed over
  std::string temp_path_;  // kReplace: the temporary
  OutputMode mode_ = OutputMode::kReplace;
  mode_t replaced_mode_ = 0;  // the replaced file's permissions, kept
  bool had_file_ = false;
  std::string previous_suffix_;
  int fd_ = -1;
  std::size_t written_ = 0;
  bool finished_ = false;
  bool committed_ = false;
  // Bytes not yet handed to write(2): a FILE* buffer would hide which write
  // failed, and a descriptor shared with stdout must not be closed.
  std::string buffer_;
};

}  // namespace vpet::io
