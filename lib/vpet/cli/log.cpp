#include "vpet/cli/log.h"

#include <cstdio>
#include <mutex>

namespace vpet::cli {
namespace {

std::string g_program = "vpet";
bool g_quiet = false;
std::mutex g_stderr_mutex;  // warnings may come from loader threads

void emit(const char* level, const std::string& message) {
  std::lock_guard<std::mutex> lock(g_stderr_mutex);
  std::fprintf(stderr, "%s: %s%s\n", g_program.c_str(), level, message.c_str());
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

}  // namespace vpet::cli
