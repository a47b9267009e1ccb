#include "vpet/cli/log.h"

#include <cstdio>
#include <mutex>

#include "vpet/io/utf8.h"

namespace vpet::cli {
namespace {

std::string g_program = "vpet";
bool g_quiet = false;
std::mutex g_stderr_mutex;  // warnings may come from loader threads
std::string g_status;       // the progress bar on the terminal's last line, if any

// Back to the start of the line, and erase it.
constexpr const char* kClearLine = "\r\033[K";

// Back to the start of the UTF-8 sequence holding s[i].
std::size_t sequence_start(const std::string& s, std::size_t i) {
  while (i > 0 && (static_cast<unsigned char>(s[i]) >> 6) == 0x2) --i;
  return i;
}

void emit(const char* level, const std::string& message) {
  const std::string text = printable(message);
  std::lock_guard<std::mutex> lock(g_stderr_mutex);
  if (!g_status.empty()) std::fputs(kClearLine, stderr);
  std::fprintf(stderr, "%s: %s%s\n", g_program.c_str(), level, text.c_str());
  if (!g_status.empty()) std::fputs(g_status.c_str(), stderr);
  std::fflush(stderr);
}

}  // namespace

void set_program_name(const std::string& name) {
  g_program = name;
}
const std::string& program_name() {
  return g_program;
}
void set_quiet(bool quiet) {
  g_quiet = quiet;
}
bool quiet() {
  return g_quiet;
}

void info(const std::string& message) {
  if (!g_quiet) emit("", message);
}
void warn(const std::string& message) {
  emit("warning: ", message);
}
void error(const std::string& message) {
  emit("error: ", message);
}

void show_status(const std::string& line) {
  std::lock_guard<std::mutex> lock(g_stderr_mutex);
  g_status = line;
  std::fputs(kClearLine, stderr);
  std::fputs(g_status.c_str(), stderr);
  std::fflush(stderr);
}

void end_status(bool keep) {
  std::lock_guard<std::mutex> lock(g_stderr_mutex);
  if (g_status.empty()) return;
  std::fputs(keep ? "\n" : kClearLine, stderr);
  g_status.clear();
  std::fflush(stderr);
}

std::string printable(const std::string& message) {
  constexpr std::size_t kLongest = 4096, kHead = 2048, kTail = 512;
  if (message.size() <= kLongest) return io::utf8_escaped(message, /*controls=*/true);
  const std::size_t head = sequence_start(message, kHead);
  const std::size_t tail = sequence_start(message, message.size() - kTail);
  return io::utf8_escaped(message.substr(0, head), true) + " [… " + std::to_string(tail - head) +
         " bytes left out …] " + io::utf8_escaped(message.substr(tail), true);
}

}  // namespace vpet::cli
