// --metrics FILE: one JSON object per line, per training step and per
// evaluation, flushed as written so `tail -f` and a plotting script follow
// the run, and a last line with the run's measurements:
//   {"type":"run","method":"lora","data":"vtab/cifar/train800val200.txt","seed":0,"recipe":null}
//   {"type":"step","epoch":1,"step":1,"loss":1.09,"lr":0.0001,"images_per_second":812.4}
//   {"type":"eval","epoch":1,"step":25,"top1":63.5}
//   {"type":"summary","epochs":1,"steps":25,"seconds":3.1,"images_per_second":790.2,
//    "peak_rss_bytes":...,"peak_memory_bytes":...}
// ("top1" the validation set's; "test_top1" the test set's under --keep
// best-test.)
// A log rather than a result: it is appended to as the run goes (a resumed
// run appends, so steps after the checkpoint's appear twice; keep the last
// line of each step). "-", /dev/stdout, a FIFO and the like are written in
// place (vpet-format(5), OUTPUT FILES), so `--metrics - | jq` works.
#pragma once

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "vpet/io/atomic_file.h"
#include "vpet/train/trainer.h"

namespace vpet::train {

class MetricsLog {
 public:
  // Truncates the file, or appends to it when `append`. Throws vpet::Error
  // naming the file when it cannot be opened.
  MetricsLog(const std::string& path, bool append);

  // The run's description, first (and again after a resume): `description`'s
  // keys under "type":"run".
  void run(const nlohmann::json& description);
  void step(const StepReport& report);
  void eval(const EvalReport& report);
  // The run's end: `summary`'s epochs and steps with `measurements`
  // (Trainer::measurements()), which the bundle leaves out.
  void summary(const nlohmann::json& summary, const nlohmann::json& measurements);

 private:
  void write_line(const std::string& line);

  std::string path_;
  std::ofstream file_;                          // a regular file, appended to as the run goes
  std::unique_ptr<io::AtomicOutput> in_place_;  // anything else: written where it is
};

}  // namespace vpet::train
