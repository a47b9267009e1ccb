#include "vpet/io/fault_point.h"

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "vpet/error.h"

namespace vpet::io {
namespace {

constexpr const char* kPoints[] = {"write", "commit", "record", "batch", "step"};

struct Fault {
  int signal_number = 0;
  std::string point;
  long at = 0;      // the pass that fires
  long passes = 0;  // passes so far
};

std::vector<Fault>& plan() {
  static std::vector<Fault> faults;
  return faults;
}

int signal_named(const std::string& name) {
  static const struct {
    const char* name;
    int number;
  } kSignals[] = {{"KILL", SIGKILL}, {"INT", SIGINT}, {"TERM", SIGTERM},
                  {"QUIT", SIGQUIT}, {"HUP", SIGHUP}, {"PIPE", SIGPIPE}};
  const std::string bare = name.rfind("SIG", 0) == 0 ? name.substr(3) : name;
  for (const auto& s : kSignals) {
    if (bare == s.name) return s.number;
  }
  char* end = nullptr;
  const long number = std::strtol(bare.c_str(), &end, 10);
  if (!bare.empty() && *end == '\0' && number > 0 && number < 65) return int(number);
  return 0;
}

Fault parse_fault(const std::string& item) {
  const std::string usage = "VPET_FAULT: '" + item +
                            "' is not SIGNAL@POINT:N (e.g. KILL@write:3; points: write, commit, "
                            "record, batch, step)";
  const std::size_t at = item.find('@');
  const std::size_t colon = item.rfind(':');
  if (at == std::string::npos || colon == std::string::npos || colon < at) throw UsageError(usage);
  Fault fault;
  fault.signal_number = signal_named(item.substr(0, at));
  fault.point = item.substr(at + 1, colon - at - 1);
  const std::string count = item.substr(colon + 1);
  char* end = nullptr;
  fault.at = std::strtol(count.c_str(), &end, 10);
  bool known = false;
  for (const char* point : kPoints) known = known || fault.point == point;
  if (fault.signal_number == 0 || !known || count.empty() || *end != '\0' || fault.at < 1) {
    throw UsageError(usage);
  }
  return fault;
}

}  // namespace

void read_fault_plan() {
  plan().clear();
  const char* text = std::getenv("VPET_FAULT");
  if (!text || !*text) return;
  const std::string spec = text;
  std::size_t start = 0;
  while (start <= spec.size()) {
    const std::size_t comma = spec.find(',', start);
    plan().push_back(parse_fault(spec.substr(start, comma - start)));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
}

void fault_point(const char* point) noexcept {
  for (Fault& fault : plan()) {
    if (fault.point != point || ++fault.passes != fault.at) continue;
    std::raise(fault.signal_number);
  }
}

}  // namespace vpet::io
