#include "vpet/cli/log.h"

#include <cstdio>
#include <mutex>

namespace vpet::cli {
namespace {

std::string g_program = "vpet";
bool g_quiet = false;
std::mutex g_stderr_mutex;  // warnings may come from loader threads
std::string g_status;       // the progress bar on the terminal's last line, if any

// Back to the start of the line, and erase it.
constexpr const char* kClearLine = "\r\033[K";

// The length of the UTF-8 sequence at s[i] (1-4), or 0 if there is none.
std::size_t utf8_length(const std::string& s, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b = byte(i);
  const std::size_t n = b < 0x80           ? 1
                        : (b >> 5) == 0x6  ? 2
                        : (b >> 4) == 0xE  ? 3
                        : (b >> 3) == 0x1E ? 4
                                           : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((byte(i + k) >> 6) != 0x2) return 0;
  }
  // Overlong forms and surrogates are not UTF-8 either.
  if (n == 2 && b < 0xC2) return 0;
  if (n == 3 && ((b == 0xE0 && byte(i + 1) < 0xA0) || (b == 0xED && byte(i + 1) >= 0xA0))) return 0;
  if (n == 4 &&
      ((b == 0xF0 && byte(i + 1) < 0x90) || b > 0xF4 || (b == 0xF4 && byte(i + 1) >= 0x90)))
    return 0;
  return n;
}

std::string escaped(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_length(s, i);
    const auto b = static_cast<unsigned char>(s[i]);
    if (n == 0 || (n == 1 && ((b < 0x20 && b != '\n') || b == 0x7F))) {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02X", b);
      out += hex;
      ++i;
    } else {
      out.append(s, i, n);
      i += n;
    }
  }
  return out;
}

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
  if (message.size() <= kLongest) return escaped(message);
  const std::size_t head = sequence_start(message, kHead);
  const std::size_t tail = sequence_start(message, message.size() - kTail);
  return escaped(message.substr(0, head)) + " [… " + std::to_string(tail - head) +
         " bytes left out …] " + escaped(message.substr(tail));
}

}  // namespace vpet::cli
