// The two kinds of failure every vpet program distinguishes (DESIGN §5):
// a run-time failure (bad data, I/O; exit 1) and a usage error (exit 2).
// Messages say what went wrong, where (file, line, record, byte offset) and,
// where it helps, what to do about it.
#pragma once

#include <stdexcept>
#include <string>

namespace vpet {

// Bad input or a failed operation at run time. Programs exit with status 1.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The reader of an output pipe went away (EPIPE). Like the Unix tools, a
// program then ends quietly (status 1, no message): the reader chose to stop.
class OutputClosed : public Error {
 public:
  using Error::Error;
};

// A wrong command line: an unknown option, a bad value, a missing argument.
// Programs exit with status 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace vpet
