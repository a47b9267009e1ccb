// The figures of vpet-report, as gnuplot scripts with their data inline
// (datablocks), every label and title taken from the runs:
//  - accuracy against trainable parameters on a log axis: one labelled
//    point per method (error bars: the standard deviation over seeds, for
//    one task), methods training no parameters (a linear probe) as a
//    dashed line, since a log axis has no zero;
//  - training curves from --metrics logs: loss, learning rate and
//    validation top-1 against the step, one line per run.
#pragma once

#include <string>
#include <vector>

#include "vpet/report/runs.h"
#include "vpet/report/summary.h"

namespace vpet::report {

enum class FigureFormat { kPng, kSvg };

// By the file's extension, .png or .svg. Throws vpet::UsageError naming
// the option for any other.
FigureFormat figure_format_of(const std::string& path, const std::string& option);

std::string params_plot_script(const Summary& summary, FigureFormat format);

// Throws vpet::Error when no run has a loss point.
std::string curves_plot_script(const std::vector<CurveRun>& runs, FigureFormat format);

}  // namespace vpet::report
