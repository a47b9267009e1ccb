#include "vpet/io/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "vpet/error.h"

namespace vpet::io {
namespace {

// Temporaries that a signal handler must remove. Fixed-size and lock-free on
// the handler's side: a handler may only call async-signal-safe functions.
constexpr int kMaxPending = 64;
constexpr std::size_t kMaxPath = 4096;
char pending_paths[kMaxPending][kMaxPath];
std::atomic<bool> pending_used[kMaxPending];
std::mutex registry_mutex;

void remove_pending_and_reraise(int signal_number) {
  for (int i = 0; i < kMaxPending; ++i) {
    if (pending_used[i].load()) unlink(pending_paths[i]);
  }
  std::signal(signal_number, SIG_DFL);
  std::raise(signal_number);
}

// Installs the cleanup handler for each signal that still has its default
// action. A program that handles a signal itself (peft-train finishes its
// step and saves a checkpoint on SIGINT) keeps its handler; it then ends
// through normal returns, whose destructors discard the temporaries.
void install_handlers_where_default() {
  for (int s : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction current {};
    sigaction(s, nullptr, &current);
    if (current.sa_handler != SIG_DFL) continue;
    struct sigaction action {};
    action.sa_handler = remove_pending_and_reraise;
    sigemptyset(&action.sa_mask);
    sigaction(s, &action, nullptr);
  }
}

int register_pending(const std::string& path) {
  install_handlers_where_default();
  if (path.size() >= kMaxPath) return -1;
  std::lock_guard<std::mutex> lock(registry_mutex);
  for (int i = 0; i < kMaxPending; ++i) {
    if (!pending_used[i].load()) {
      std::memcpy(pending_paths[i], path.c_str(), path.size() + 1);
      pending_used[i].store(true);
      return i;
    }
  }
  return -1;
}

void unregister_pending(const std::string& path) {
  std::lock_guard<std::mutex> lock(registry_mutex);
  for (int i = 0; i < kMaxPending; ++i) {
    if (pending_used[i].load() && path == pending_paths[i]) pending_used[i].store(false);
  }
}

std::string errno_text() {
  return std::strerror(errno);
}

}  // namespace

AtomicOutput::AtomicOutput(std::string path, bool binary) : path_(std::move(path)) {
  if (path_.empty()) throw UsageError("empty output path");
  if (is_stdout()) {
    if (binary && isatty(STDOUT_FILENO)) {
      throw UsageError("refusing to write binary data to a terminal; use -o FILE or a pipe");
    }
    file_ = stdout;
    return;
  }
  // The temporary lives in the destination's directory so that rename() is atomic.
  temp_path_ = path_ + ".tmp.XXXXXX";
  int fd = mkstemp(temp_path_.data());
  if (fd < 0) throw Error(path_ + ": cannot create output file: " + errno_text());
  register_pending(temp_path_);
  file_ = fdopen(fd, "wb");
  if (!file_) {
    close(fd);
    discard();
    throw Error(path_ + ": cannot open output file: " + errno_text());
  }
}

AtomicOutput::~AtomicOutput() {
  if (!committed_) discard();
}

void AtomicOutput::write(const void* data, std::size_t size) {
  if (size == 0) return;
  if (std::fwrite(data, 1, size, file_) != size) {
    throw Error((is_stdout() ? std::string("standard output") : path_) +
                ": write failed: " + errno_text());
  }
  written_ += size;
}

void AtomicOutput::flush() {
  if (std::fflush(file_) != 0) {
    throw Error((is_stdout() ? std::string("standard output") : path_) +
                ": write failed: " + errno_text());
  }
}

void AtomicOutput::commit() {
  if (committed_) return;
  flush();
  if (is_stdout()) {
    committed_ = true;
    return;
  }
  // mkstemp creates 0600; give the file the permissions a normal open would.
  mode_t mask = umask(0);
  umask(mask);
  fchmod(fileno(file_), 0666 & ~mask);
  if (fsync(fileno(file_)) != 0 && errno != EINVAL) {
    throw Error(path_ + ": cannot sync output file: " + errno_text());
  }
  if (std::fclose(file_) != 0) {
    file_ = nullptr;
    throw Error(path_ + ": cannot close output file: " + errno_text());
  }
  file_ = nullptr;
  if (std::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    throw Error(path_ + ": cannot move output into place: " + errno_text());
  }
  unregister_pending(temp_path_);
  committed_ = true;
}

void AtomicOutput::discard() noexcept {
  if (is_stdout()) {
    if (file_) std::fflush(file_);
    return;
  }
  if (file_) std::fclose(file_);
  file_ = nullptr;
  if (!temp_path_.empty()) {
    unlink(temp_path_.c_str());
    unregister_pending(temp_path_);
  }
}

}  // namespace vpet::io
