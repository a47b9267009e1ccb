#include "vpet/report/gnuplot.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "vpet/error.h"

extern char** environ;

namespace vpet::report {

namespace {

// A pipe whose ends close with it; the parent's ends are close-on-exec.
struct Pipe {
  int read_end = -1, write_end = -1;
  Pipe() {
    int ends[2];
    if (pipe2(ends, O_CLOEXEC) != 0) throw Error(std::string("pipe: ") + std::strerror(errno));
    read_end = ends[0];
    write_end = ends[1];
  }
  ~Pipe() {
    close_read();
    close_write();
  }
  void close_read() {
    if (read_end >= 0) ::close(read_end);
    read_end = -1;
  }
  void close_write() {
    if (write_end >= 0) ::close(write_end);
    write_end = -1;
  }
};

// gnuplot's last lines of complaint, for a message.
std::string tail_lines(const std::string& text, std::size_t lines) {
  std::size_t start = text.size();
  while (start > 0 && (text[start - 1] == '\n' || text[start - 1] == ' ')) --start;
  const std::size_t end = start;
  for (std::size_t seen = 0; start > 0; --start) {
    if (text[start - 1] == '\n' && ++seen == lines) break;
  }
  return text.substr(start, end - start);
}

// write(2) with SIGPIPE held back: a gnuplot that exits before reading all
// of its script is a failure to report, not the end of this program (which
// takes SIGPIPE as its own reader going away).
ssize_t write_without_sigpipe(int fd, const char* data, std::size_t size) {
  sigset_t pipe_signal, previous;
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_signal, &previous);
  const ssize_t n = ::write(fd, data, size);
  if (n < 0 && errno == EPIPE) {
    const timespec now{};
    sigtimedwait(&pipe_signal, nullptr, &now);  // the pending SIGPIPE, taken
    errno = EPIPE;
  }
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  return n;
}

}  // namespace

std::string gnuplot_quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') {
      out += "''";
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string run_gnuplot(const std::string& script, const std::string& what) {
  Pipe input, output, errors;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, input.read_end, STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, output.write_end, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, errors.write_end, STDERR_FILENO);
  char program[] = "gnuplot";
  char* argv[] = {program, nullptr};
  pid_t child = -1;
  const int spawned = posix_spawnp(&child, program, &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) {
    throw Error(what + ": cannot run gnuplot (" + std::strerror(spawned) +
                "); the figures need it on PATH (Debian: apt install gnuplot-nox)");
  }
  input.close_read();
  output.close_write();
  errors.close_write();

  // Feed the script while reading both outputs: a script or a figure larger
  // than a pipe's buffer would otherwise deadlock the two processes.
  std::string figure, messages;
  std::size_t sent = 0;
  std::array<char, 65536> buffer;
  bool output_open = true, errors_open = true;
  while (output_open || errors_open) {
    std::array<pollfd, 3> fds{};
    nfds_t count = 0;
    if (output_open) fds[count++] = {output.read_end, POLLIN, 0};
    if (errors_open) fds[count++] = {errors.read_end, POLLIN, 0};
    if (input.write_end >= 0) fds[count++] = {input.write_end, POLLOUT, 0};
    if (::poll(fds.data(), count, -1) < 0) {
      if (errno == EINTR) continue;
      throw Error(std::string("poll: ") + std::strerror(errno));
    }
    for (nfds_t i = 0; i < count; ++i) {
      if (!fds[i].revents) continue;
      if (fds[i].fd == input.write_end) {
        // A gnuplot that stopped reading (it failed) shows as POLLERR.
        if (fds[i].revents & (POLLERR | POLLHUP)) {
          input.close_write();
          continue;
        }
        const ssize_t n =
            write_without_sigpipe(input.write_end, script.data() + sent, script.size() - sent);
        if (n > 0) sent += std::size_t(n);
        if (n < 0 && errno != EINTR && errno != EAGAIN) input.close_write();
        if (sent == script.size()) input.close_write();
        continue;
      }
      const ssize_t n = ::read(fds[i].fd, buffer.data(), buffer.size());
      if (n < 0 && errno == EINTR) continue;
      std::string& sink = fds[i].fd == output.read_end ? figure : messages;
      if (n > 0) {
        sink.append(buffer.data(), std::size_t(n));
      } else if (fds[i].fd == output.read_end) {
        output_open = false;
      } else {
        errors_open = false;
      }
    }
  }
  input.close_write();
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (!ok || figure.empty()) {
    const std::string said = tail_lines(messages, 4);
    throw Error(what + ": gnuplot " + (!ok ? "failed" : "wrote nothing") +
                (said.empty() ? "" : ": " + said));
  }
  return figure;
}

}  // namespace vpet::report
