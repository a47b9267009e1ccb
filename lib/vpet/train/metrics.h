// --metrics FILE: one JSON object per line, per training step and per
// evaluation, flushed as written so `tail -f` and a plotting script follow
// the run:
//   {"type":"step","epoch":1,"step":1,"loss":1.09,"lr":0.0001,"images_per_second":812.4}
//   {"type":"eval","epoch":1,"step":25,"top1":63.5}
// ("top1" the validation set's; "test_top1" the test set's under --keep
// best-test.)
// A log rather than a result: it is appended to as the run goes (a resumed
// run appends, so steps after the checkpoint's appear twice; keep the last
// line of each step).
#pragma once

#include <fstream>
#include <string>

#include "vpet/train/trainer.h"

namespace vpet::train {

class MetricsLog {
 public:
  // Truncates the file, or appends to it when `append`. Throws vpet::Error
  // naming the file when it cannot be opened.
  MetricsLog(const std::string& path, bool append);

  void step(const StepReport& report);
  void eval(const EvalReport& report);

 private:
  void write_line(const std::string& line);

  std::string path_;
  std::ofstream out_;
};

}  // namespace vpet::train
