// The outputs of one run, all or nothing (vpet-format(5), OUTPUT FILES).
//
// A program names every output before its work starts: each is checked then
// (its directory takes a temporary, an in-place file is writable), two
// options naming one file are a usage error, and the outputs written at the
// end appear together on commit(), after everything has succeeded. A failure
// anywhere (an export that fails after the adapter was written, a full disk,
// a signal) leaves none of them behind and every previous file untouched.
//
//   OutputSet outputs;
//   AtomicOutput& bundle = outputs.open("-o/--output", path);
//   outputs.check("--checkpoint", checkpoint_path);  // written by the run itself
//   ... the work ...
//   write_bundle(bundle, ...);
//   outputs.commit();
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "vpet/io/atomic_file.h"

namespace vpet::io {

class OutputSet {
 public:
  OutputSet() = default;
  OutputSet(const OutputSet&) = delete;
  OutputSet& operator=(const OutputSet&) = delete;

  // An output written at the end of the run: opened now (a FIFO's open
  // waits for its reader, as a shell's `>` does), committed by commit().
  // `option` names it in messages ("-o/--output"). Throws vpet::UsageError
  // when another output of the run names the same file, vpet::Error naming
  // the path when it cannot be written.
  AtomicOutput& open(const std::string& option, const std::string& path, bool binary = true);
  // An output the run writes by itself as it goes (a checkpoint replaced
  // every epoch, a metrics log): checked now, but not opened.
  void check(const std::string& option, const std::string& path);

  // Finishes every opened output first (flushed, synced, closed), then moves
  // each into place: a failure while finishing commits none.
  void commit();

 private:
  struct Entry {
    std::string option;
    OutputTarget target;
    std::string canonical;  // a path that does not exist yet, resolved
    std::unique_ptr<AtomicOutput> output;
  };
  Entry& add(const std::string& option, const std::string& path);

  std::vector<Entry> entries_;
};

}  // namespace vpet::io
