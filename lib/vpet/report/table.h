// A Summary as a table of text: one row per method; a column per task
// ("mean ± std" over seeds, the mean alone for one run, "-" for none), per
// group, the overall means, the trainable parameters in millions and any
// extra column; written as aligned text, Markdown, LaTeX (booktabs) or TSV.
#pragma once

#include <string>
#include <vector>

#include "vpet/report/summary.h"

namespace vpet::report {

enum class TableFormat { kText, kMarkdown, kLatex, kTsv };

// "text", "markdown", "latex", "tsv". Throws vpet::UsageError.
TableFormat parse_table_format(const std::string& name);

struct TableCell {
  std::string value;   // a name, a number, or "-" when missing
  std::string spread;  // the standard deviation of two runs or more, else empty
  bool numeric = false;
};

struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<TableCell>> rows;  // first cell: the method
};

// The cells with `digits` decimals for the metric and the extra columns,
// four for the parameters in millions.
Table make_table(const Summary& summary, int digits);

// The table in `format`, every line ending in a newline.
std::string render_table(const Table& table, TableFormat format);

}  // namespace vpet::report
