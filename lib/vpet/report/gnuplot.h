// gnuplot as a filter: a script in, the figure's bytes out. The figure is
// written to standard output (the script sets no output file), so the
// caller writes it where it wants, atomically (vpet-format(5), OUTPUT FILES).
#pragma once

#include <string>

namespace vpet::report {

// Runs `gnuplot` from PATH on `script`; returns what it wrote to standard
// output. Throws vpet::Error when gnuplot is not installed, fails (its
// messages included) or writes nothing. `what` names the figure in messages.
std::string run_gnuplot(const std::string& script, const std::string& what);

// A string for a gnuplot script: single-quoted, quotes doubled, control
// characters as spaces.
std::string gnuplot_quote(const std::string& text);

}  // namespace vpet::report
