// Deterministic fault injection, for the fault tests (vpet(7), ENVIRONMENT).
//
//   VPET_FAULT="SIGNAL@POINT:N[,SIGNAL@POINT:N...]"
//
// makes the process send itself SIGNAL (KILL, INT, TERM, QUIT, HUP, PIPE, or
// a number) the Nth time it passes POINT:
//
//   write   an output's write (any output: a bundle, a checkpoint, a stream)
//   commit  an output about to be moved into place (the temporary complete)
//   record  a stream record written
//   batch   a batch of images decoded by the loader (vit-extract,
//           spt-sensitivity, peft-eval; peft-train decodes once, up front)
//   step    a training step done
//
// so that a test can kill a program, or interrupt it, at a chosen moment
// instead of by timing luck. Unset, it costs one branch per point.
#pragma once

namespace vpet::io {

// Reads VPET_FAULT. Throws vpet::UsageError naming the variable when it is
// malformed. Every program calls it at start (cli::run_program).
void read_fault_plan();

// Passes the named point: sends the planned signal when its count is reached.
void fault_point(const char* point) noexcept;

}  // namespace vpet::io
