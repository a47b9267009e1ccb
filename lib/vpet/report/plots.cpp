#include "vpet/report/plots.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

#include "vpet/error.h"
#include "vpet/report/gnuplot.h"

namespace vpet::report {

namespace {

std::string number(double value) {
  char text[64];
  std::snprintf(text, sizeof text, "%.9g", value);
  return text;
}

// A label inside a tab-separated datablock: no tabs or line ends.
std::string data_label(std::string text) {
  std::replace_if(
      text.begin(), text.end(),
      [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }, ' ');
  return text;
}

std::string terminal(FigureFormat format, int width, int height) {
  const std::string size = std::to_string(width) + "," + std::to_string(height);
  // noenhanced: task and method names keep their underscores.
  if (format == FigureFormat::kPng) {
    return "set terminal pngcairo size " + size + " noenhanced font ',10'\n";
  }
  return "set terminal svg size " + size + " noenhanced font 'sans,10' background rgb 'white'\n";
}

std::string datablock(const std::string& name, const std::string& rows) {
  return "$" + name + " << EOD\n" + rows + "EOD\n";
}

std::string curve_rows(const std::vector<CurvePoint>& curve) {
  std::string rows;
  for (const CurvePoint& point : curve) {
    if (std::isfinite(point.value)) rows += number(point.step) + "\t" + number(point.value) + "\n";
  }
  return rows;
}

}  // namespace

FigureFormat figure_format_of(const std::string& path, const std::string& option) {
  auto ends_with = [&](const std::string& suffix) {
    return path.size() >= suffix.size() &&
           path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (ends_with(".png")) return FigureFormat::kPng;
  if (ends_with(".svg")) return FigureFormat::kSvg;
  throw UsageError(option + " '" + path + "': the name must end in .png or .svg (the format)");
}

std::string params_plot_script(const Summary& summary, FigureFormat format) {
  const bool one_task = summary.tasks.size() == 1;
  std::string points;
  std::vector<std::pair<std::string, double>> lines;  // methods training nothing
  double low = INFINITY, high = -INFINITY;
  for (std::size_t m = 0; m < summary.methods.size(); ++m) {
    const std::optional<double> value = summary.headline(m);
    if (!value) continue;  // a task missing: no headline number
    const double spread = one_task ? summary.cells[m][0].std : 0.0;
    low = std::min(low, *value - spread);
    high = std::max(high, *value + spread);
    if (summary.params[m] <= 0) {
      lines.emplace_back(summary.methods[m], *value);
      continue;
    }
    points += number(summary.params[m]) + "\t" + number(*value) + "\t" + number(spread) + "\t" +
              data_label(summary.methods[m]) + "\n";
  }
  if (points.empty()) {
    throw Error("the parameters figure: no method with trainable parameters and a " +
                summary.headline_label());
  }
  const double pad = std::max(0.5, 0.08 * (high - low));
  const std::string what = summary.headline_label();
  std::string script = terminal(format, 900, 600);
  script += "set title " + gnuplot_quote(what + " against trainable parameters") + "\n";
  script += "set xlabel " +
            gnuplot_quote(std::string("trainable parameters, head ") +
                          (summary.with_head ? "included" : "excluded") + " (log scale)") +
            "\n";
  const bool percent = summary.metric == "top1" || summary.metric == "top5";
  script +=
      "set ylabel " + gnuplot_quote(metric_label(summary.metric) + (percent ? " (%)" : "")) + "\n";
  script += "set logscale x\nset format x '%.0s%c'\nset grid\nset key off\n";
  script += "set yrange [" + number(low - pad) + ":" + number(high + pad) + "]\n";
  script += "set offsets graph 0.08, graph 0.2, 0, 0\n";
  script += "set datafile separator '\\t'\n";
  script += datablock("points", points);
  for (const auto& [method, value] : lines) {
    script += "set arrow from graph 0, first " + number(value) + " to graph 1, first " +
              number(value) + " nohead dashtype 2 linecolor rgb 'gray40'\n";
    script += "set label " + gnuplot_quote(method + " (no trainable parameters)") +
              " at graph 0.01, first " + number(value) + " offset 0,0.7 textcolor rgb 'gray40'\n";
  }
  script +=
      "plot $points using 1:2:3 with yerrorbars pointtype 7 pointsize 1.2 "
      "linecolor rgb '#1f77b4', \\\n"
      "     $points using 1:2:4 with labels offset character 1,0 left\n";
  return script;
}

std::string curves_plot_script(const std::vector<CurveRun>& runs, FigureFormat format) {
  std::set<std::string> tasks;
  std::set<std::optional<std::int64_t>> seeds;
  for (const CurveRun& run : runs) {
    tasks.insert(run.labels.task);
    seeds.insert(run.labels.seed);
  }
  auto label = [&](const CurveRun& run) {
    std::string text = run.labels.method;
    if (seeds.size() > 1 && run.labels.seed) text += " seed " + std::to_string(*run.labels.seed);
    if (tasks.size() > 1) text += " on " + run.labels.task;
    return text;
  };
  std::string title;
  if (runs.size() == 1) {
    const RunLabels& only = runs[0].labels;
    title = "training of " + only.method + " on " + only.task +
            (only.seed ? ", seed " + std::to_string(*only.seed) : "");
  } else {
    title = "training curves of " + std::to_string(runs.size()) + " runs" +
            (tasks.size() == 1 ? " on " + *tasks.begin() : "");
  }

  struct Panel {
    std::vector<CurvePoint> CurveRun::*curve;
    std::string ylabel, style;
  };
  const std::vector<Panel> panels = {
      {&CurveRun::loss, "training loss", "lines"},
      {&CurveRun::lr, "learning rate", "lines"},
      {&CurveRun::val_top1, "validation top-1 (%)", "linespoints pointtype 7 pointsize 0.6"}};
  std::string data, plots;
  int shown = 0;
  for (std::size_t p = 0; p < panels.size(); ++p) {
    std::string plot;
    for (std::size_t r = 0; r < runs.size(); ++r) {
      const std::string rows = curve_rows(runs[r].*(panels[p].curve));
      if (rows.empty()) continue;
      const std::string name = "curve_" + std::to_string(p) + "_" + std::to_string(r);
      data += datablock(name, rows);
      plot += std::string(plot.empty() ? "plot " : ", \\\n     ") + "$" + name +
              " using 1:2 with " + panels[p].style + " linecolor " + std::to_string(r + 1) +
              " title " + gnuplot_quote(label(runs[r]));
    }
    if (plot.empty()) {
      if (p == 0) throw Error("the curves figure: no --metrics log with a loss");
      continue;  // no evaluations (or no learning rates) logged: no panel
    }
    ++shown;
    plots += "set ylabel " + gnuplot_quote(panels[p].ylabel) + "\n" + plot + "\n";
  }
  std::string script = terminal(format, 900, 300 * shown);
  script += "set datafile separator '\\t'\nset grid\nset xlabel 'step'\n";
  script += runs.size() > 1 ? "set key outside right top\n" : "set key off\n";
  script += data;
  script +=
      "set multiplot layout " + std::to_string(shown) + ",1 title " + gnuplot_quote(title) + "\n";
  script += plots + "unset multiplot\n";
  return script;
}

}  // namespace vpet::report
