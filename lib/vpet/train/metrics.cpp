#include "vpet/train/metrics.h"

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "vpet/error.h"

namespace vpet::train {

MetricsLog::MetricsLog(const std::string& path, bool append)
    : path_(path), out_(path, append ? std::ios::app : std::ios::trunc) {
  if (!out_) throw Error(path + ": cannot open the metrics file: " + std::strerror(errno));
}

void MetricsLog::step(const StepReport& report) {
  nlohmann::json line = {{"type", "step"},      {"epoch", report.epoch},
                         {"step", report.step}, {"loss", report.loss},
                         {"lr", report.lr},     {"images_per_second", report.images_per_second}};
  if (report.skipped) line["skipped"] = true;
  // The method's own numbers (LION's residuals), unprefixed, beside the loop's.
  if (report.method.is_object()) {
    for (auto it = report.method.begin(); it != report.method.end(); ++it)
      line[it.key()] = it.value();
  }
  write_line(line.dump());
}

void MetricsLog::eval(const EvalReport& report) {
  nlohmann::json line = {{"type", "eval"}, {"epoch", report.epoch}, {"step", report.step}};
  if (report.top1 >= 0.0) line["top1"] = report.top1;
  if (report.test_top1 >= 0.0) line["test_top1"] = report.test_top1;
  write_line(line.dump());
}

void MetricsLog::write_line(const std::string& line) {
  out_ << line << '\n';
  out_.flush();
  if (!out_) throw Error(path_ + ": write failed: " + std::strerror(errno));
}

}  // namespace vpet::train
