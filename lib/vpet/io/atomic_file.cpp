#include "vpet/io/atomic_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "vpet/error.h"
#include "vpet/io/fault_point.h"

namespace vpet::io {
namespace {

// ------------------------------------------------ temporaries and signals

// Temporaries that a signal handler must remove. Fixed-size and lock-free on
// the handler's side: a handler may only call async-signal-safe functions.
constexpr int kMaxPending = 64;
constexpr std::size_t kMaxPath = 4096;
char pending_paths[kMaxPending][kMaxPath];
std::atomic<bool> pending_used[kMaxPending];
std::mutex registry_mutex;

void on_fatal_signal(int signal_number) {
  remove_pending_temporaries();
  std::signal(signal_number, SIG_DFL);
  std::raise(signal_number);
}

// The reader of a pipe went away: nothing more can be delivered, and the
// reader meant it (`| head`). End quietly, as the Unix tools do.
void on_broken_pipe(int) {
  remove_pending_temporaries();
  _exit(1);
}

void register_pending(const std::string& path) {
  install_signal_cleanup();
  if (path.size() >= kMaxPath) return;
  std::lock_guard<std::mutex> lock(registry_mutex);
  for (int i = 0; i < kMaxPending; ++i) {
    if (!pending_used[i].load()) {
      std::memcpy(pending_paths[i], path.c_str(), path.size() + 1);
      pending_used[i].store(true);
      return;
    }
  }
}

void unregister_pending(const std::string& path) {
  std::lock_guard<std::mutex> lock(registry_mutex);
  for (int i = 0; i < kMaxPending; ++i) {
    if (pending_used[i].load() && path == pending_paths[i]) pending_used[i].store(false);
  }
}

std::string errno_text(int error_number) {
  return std::strerror(error_number);
}

// ------------------------------------------------------------- resolving

std::string directory_of(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string base_name_of(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// The descriptor a path names by itself (-, /dev/stdout, /dev/fd/N, ...), or -1.
int named_descriptor(const std::string& path) {
  if (path == "-" || path == "/dev/stdout") return STDOUT_FILENO;
  if (path == "/dev/stderr") return STDERR_FILENO;
  const std::string pid_dir = "/proc/" + std::to_string(getpid()) + "/fd/";
  for (const std::string prefix : {"/dev/fd/", "/proc/self/fd/", "/proc/thread-self/fd/"}) {
    for (const std::string& dir : {prefix, pid_dir}) {
      if (path.size() <= dir.size() || path.compare(0, dir.size(), dir) != 0) continue;
      const std::string number = path.substr(dir.size());
      if (number.size() > 9 || number.find_first_not_of("0123456789") != std::string::npos) {
        continue;
      }
      return std::atoi(number.c_str());
    }
  }
  return -1;
}

void record_identity(OutputTarget& target, const struct stat& st) {
  target.exists = true;
  target.device = static_cast<std::uint64_t>(st.st_dev);
  target.inode = static_cast<std::uint64_t>(st.st_ino);
  target.is_character_device = S_ISCHR(st.st_mode);
}

// The temporary's name: NAME.tmp.PID.XXXXXX beside the target. The PID lets
// a later writer tell a temporary whose writer was killed from a live one.
// The name is shortened so the temporary's stays within NAME_MAX.
std::string temporary_prefix(const std::string& target) {
  std::string base = base_name_of(target).substr(0, 180);
  const std::string dir = directory_of(target);
  return (dir == "." && target.find('/') == std::string::npos ? std::string() : dir + "/") + base +
         ".tmp.";
}

// Removes NAME.tmp.PID.XXXXXX files beside `target` whose process is gone:
// what a SIGKILL left behind.
void remove_stale_temporaries(const std::string& target) {
  const std::string prefix = base_name_of(temporary_prefix(target));
  const std::string dir = directory_of(target);
  DIR* handle = opendir(dir.c_str());
  if (!handle) return;
  while (const dirent* entry = readdir(handle)) {
    const std::string name = entry->d_name;
    if (name.size() <= prefix.size() + 7 || name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string rest = name.substr(prefix.size());  // PID.XXXXXX
    const std::size_t dot = rest.find('.');
    if (dot == 0 || dot == std::string::npos || rest.size() - dot - 1 != 6 || dot > 9) continue;
    if (rest.substr(0, dot).find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = static_cast<pid_t>(std::atol(rest.substr(0, dot).c_str()));
    if (pid <= 0 || pid == getpid()) continue;
    if (kill(pid, 0) == 0 || errno != ESRCH) continue;  // alive, or not ours to judge
    unlink((dir + "/" + name).c_str());
  }
  closedir(handle);
}

// Whether the cleanup handler may take signal `s` over: where nothing else
// handles it. An ignored SIGHUP (nohup) or SIGPIPE (the parent wants EPIPE)
// stays ignored; an ignored SIGINT or SIGQUIT (a shell's `cmd &`) is taken
// over, so that `kill -INT` still ends the program without leftovers.
bool may_take_over(int s) {
  struct sigaction current {};
  sigaction(s, nullptr, &current);
  if (current.sa_flags & SA_SIGINFO) return false;
  if (current.sa_handler == SIG_DFL) return true;
  return current.sa_handler == SIG_IGN && (s == SIGINT || s == SIGQUIT);
}

}  // namespace

// ----------------------------------------------------------------- public

void remove_pending_temporaries() noexcept {
  for (int i = 0; i < kMaxPending; ++i) {
    if (pending_used[i].load()) unlink(pending_paths[i]);
  }
}

void install_signal_cleanup() {
  static std::once_flag once;
  std::call_once(once, [] {
    for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE}) {
      if (!may_take_over(s)) continue;
      struct sigaction action {};
      action.sa_handler = s == SIGPIPE ? on_broken_pipe : on_fatal_signal;
      sigemptyset(&action.sa_mask);
      sigaction(s, &action, nullptr);
    }
  });
}

OutputTarget resolve_output(const std::string& path) {
  if (path.empty()) throw UsageError("empty output path");
  OutputTarget target;
  target.path = path;
  std::string current = path;
  // Follows symbolic links one by one, as the kernel would, so that a link
  // is replaced at the file it points to; 40 links is the kernel's own limit.
  for (int hop = 0; hop <= 40; ++hop) {
    const int descriptor = named_descriptor(current);
    if (descriptor >= 0) {
      struct stat st {};
      if (fstat(descriptor, &st) != 0) {
        throw Error(path + ": cannot write: file descriptor " + std::to_string(descriptor) +
                    " is not open");
      }
      record_identity(target, st);
      target.mode = OutputMode::kInPlace;
      target.descriptor = descriptor;
      target.target = current;
      return target;
    }
    struct stat st {};
    if (lstat(current.c_str(), &st) != 0) {
      if (errno != ENOENT) throw Error(path + ": cannot write: " + errno_text(errno));
      target.target = current;  // a new file
      return target;
    }
    if (S_ISLNK(st.st_mode)) {
      std::string link(PATH_MAX, '\0');
      const ssize_t n = readlink(current.c_str(), link.data(), link.size());
      if (n < 0) throw Error(path + ": cannot read the link: " + errno_text(errno));
      link.resize(static_cast<std::size_t>(n));
      current = link.front() == '/' ? link : directory_of(current) + "/" + link;
      continue;
    }
    if (S_ISDIR(st.st_mode)) throw Error(path + ": cannot write: it is a directory");
    record_identity(target, st);
    target.target = current;
    target.mode = S_ISREG(st.st_mode) ? OutputMode::kReplace : OutputMode::kInPlace;
    return target;
  }
  throw Error(path + ": cannot write: " + errno_text(ELOOP));
}

void check_output_writable(const std::string& path) {
  const OutputTarget target = resolve_output(path);
  if (target.mode == OutputMode::kInPlace) {
    if (target.descriptor >= 0) {
      const int flags = fcntl(target.descriptor, F_GETFL);
      if (flags < 0 || (flags & O_ACCMODE) == O_RDONLY) {
        throw Error(path + ": cannot write: the descriptor is not open for writing");
      }
    } else if (access(target.target.c_str(), W_OK) != 0) {
      throw Error(path + ": cannot write: " + errno_text(errno));
    }
    return;
  }
  AtomicOutput probe(path);  // creates the temporary; its destructor removes it
}

AtomicOutput::AtomicOutput(std::string path, bool binary) : path_(std::move(path)) {
  install_signal_cleanup();
  const OutputTarget target = resolve_output(path_);
  mode_ = target.mode;
  if (mode_ == OutputMode::kInPlace) {
    if (target.descriptor >= 0) {
      // Anything already written to stdout by stdio goes first.
      if (target.descriptor == STDOUT_FILENO) std::fflush(stdout);
      fd_ = fcntl(target.descriptor, F_DUPFD_CLOEXEC, 3);
    } else {
      fd_ = ::open(target.target.c_str(), O_WRONLY | O_NOCTTY | O_CLOEXEC);
    }
    if (fd_ < 0) throw Error(display_name() + ": cannot open for writing: " + errno_text(errno));
    if (binary && isatty(fd_)) {
      ::close(fd_);
      fd_ = -1;
      throw UsageError(std::string("refusing to write binary data to a terminal") +
                       (is_stdout() ? "" : " (" + path_ + ")") + "; use -o FILE or a pipe");
    }
    return;
  }
  target_ = target.target;
  if (target.exists) {
    struct stat st {};
    if (stat(target_.c_str(), &st) == 0) {
      had_file_ = true;
      replaced_mode_ = st.st_mode & 07777;
    }
    // The rename would succeed over a read-only file; a shell's `>` would not.
    if (access(target_.c_str(), W_OK) != 0) {
      throw Error(path_ + ": cannot write: " + errno_text(errno));
    }
  }
  remove_stale_temporaries(target_);
  // The temporary lives in the target's directory so that rename() is atomic.
  temp_path_ = temporary_prefix(target_) + std::to_string(getpid()) + ".XXXXXX";
  fd_ = mkstemp(temp_path_.data());
  if (fd_ < 0) {
    temp_path_.clear();
    throw Error(path_ + ": cannot create output file: " + errno_text(errno));
  }
  register_pending(temp_path_);
}

AtomicOutput::~AtomicOutput() {
  if (!committed_) discard();
}

std::string AtomicOutput::display_name() const {
  return is_stdout() ? std::string("standard output") : path_;
}

void AtomicOutput::fail(const std::string& what, int error_number) const {
  if (error_number == EPIPE) throw OutputClosed(display_name() + ": the reader went away");
  throw Error(display_name() + ": " + what + ": " + errno_text(error_number));
}

void AtomicOutput::write(const void* data, std::size_t size) {
  fault_point("write");
  if (size == 0) return;
  if (fd_ < 0) throw Error(display_name() + ": write after the file was closed");
  constexpr std::size_t kBuffer = 64 * 1024;
  if (buffer_.size() + size <= kBuffer) {
    buffer_.append(static_cast<const char*>(data), size);
    written_ += size;
    return;
  }
  flush();
  const char* p = static_cast<const char*>(data);
  if (size < kBuffer) {
    buffer_.assign(p, size);
    written_ += size;
    return;
  }
  for (std::size_t done = 0; done < size;) {
    const ssize_t n = ::write(fd_, p + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("write failed", errno);
    done += static_cast<std::size_t>(n);
  }
  written_ += size;
}

void AtomicOutput::flush() {
  for (std::size_t done = 0; done < buffer_.size();) {
    const ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("write failed", errno);
    done += static_cast<std::size_t>(n);
  }
  buffer_.clear();
}

void AtomicOutput::finish() {
  if (finished_) return;
  if (fd_ < 0) throw Error(display_name() + ": the file was closed after a failure");
  flush();
  const int fd = fd_;
  if (mode_ == OutputMode::kReplace) {
    // mkstemp creates 0600: keep the replaced file's permissions, or give a
    // new file those a plain open would.
    mode_t mode = replaced_mode_;
    if (!had_file_) {
      const mode_t mask = umask(0);
      umask(mask);
      mode = 0666 & ~mask;
    }
    fchmod(fd, mode);
    if (fsync(fd) != 0 && errno != EINVAL) fail("cannot write the file to disk", errno);
  }
  fd_ = -1;
  if (::close(fd) != 0 && errno != EINTR) fail("write failed", errno);
  finished_ = true;
}

void AtomicOutput::commit() {
  if (committed_) return;
  finish();
  fault_point("commit");
  if (mode_ == OutputMode::kReplace) {
    if (had_file_ && !previous_suffix_.empty()) keep_replaced_file();
    if (std::rename(temp_path_.c_str(), target_.c_str()) != 0) {
      fail("cannot move the output into place", errno);
    }
    unregister_pending(temp_path_);
    temp_path_.clear();
    // The rename itself reaches the disk with its directory.
    const int dir = ::open(directory_of(target_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
      fsync(dir);
      ::close(dir);
    }
  }
  committed_ = true;
}

void AtomicOutput::keep_replaced_file() noexcept {
  // Linked under a temporary name first, then renamed over the old copy: at
  // every moment both names hold a whole file. Best effort: a file system
  // without hard links keeps no copy, and the output is written all the same.
  const std::string previous = target_ + previous_suffix_;
  std::string link_path = temporary_prefix(previous) + std::to_string(getpid()) + ".XXXXXX";
  const int fd = mkstemp(link_path.data());
  if (fd < 0) return;
  ::close(fd);
  register_pending(link_path);
  unlink(link_path.c_str());
  if (::link(target_.c_str(), link_path.c_str()) == 0) {
    if (std::rename(link_path.c_str(), previous.c_str()) != 0) unlink(link_path.c_str());
  }
  unregister_pending(link_path);
}

void AtomicOutput::discard() noexcept {
  if (mode_ == OutputMode::kInPlace) {
    // What was written stays written (a pipe cannot take it back); hand over
    // what is buffered, so a reader sees every complete record.
    if (fd_ >= 0) {
      try {
        flush();
      } catch (...) {
      }
      ::close(fd_);
      fd_ = -1;
    }
    return;
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (!temp_path_.empty()) {
    unlink(temp_path_.c_str());
    unregister_pending(temp_path_);
  }
}

}  // namespace vpet::io
