#include "vpet/train/metrics.h"

#include <cerrno>
#include <cstring>

#include "vpet/error.h"

namespace vpet::train {

MetricsLog::MetricsLog(const std::string& path, bool append) : path_(path) {
  // A log is read while it grows: a regular file is written under its own
  // name, not renamed into place at the end; a descriptor ("-") or a FIFO
  // is written where it is, never opened by name (a shell's >> must stay >>).
  if (io::resolve_output(path).mode == io::OutputMode::kInPlace) {
    in_place_ = std::make_unique<io::AtomicOutput>(path, /*binary=*/false);
    return;
  }
  file_.open(path, append ? std::ios::app : std::ios::trunc);
  if (!file_) throw Error(path + ": cannot open the metrics file: " + std::strerror(errno));
}

void MetricsLog::run(const nlohmann::json& description) {
  nlohmann::json line = {{"type", "run"}};
  line.update(description);
  write_line(line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
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

void MetricsLog::summary(const nlohmann::json& summary, const nlohmann::json& measurements) {
  nlohmann::json line = {
      {"type", "summary"}, {"epochs", summary.at("epochs")}, {"steps", summary.at("steps")}};
  line.update(measurements);
  write_line(line.dump());
}

void MetricsLog::write_line(const std::string& line) {
  if (in_place_) {
    const std::string text = line + '\n';
    in_place_->write(text.data(), text.size());  // throws naming the destination
    in_place_->flush();
    return;
  }
  file_ << line << '\n';
  file_.flush();
  if (!file_) throw Error(path_ + ": write failed: " + std::strerror(errno));
}

}  // namespace vpet::train
