#include "vpet/report/table.h"

#include <algorithm>
#include <cstdio>

#include "vpet/error.h"

namespace vpet::report {

namespace {

std::string fixed(double value, int digits) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", digits, value);
  return text;
}

TableCell name_cell(const std::string& name) {
  return {name, "", false};
}

TableCell number_cell(const std::optional<double>& value, int digits) {
  if (!value) return {"-", "", true};
  return {fixed(*value, digits), "", true};
}

// Terminal columns of UTF-8 text: one per code point ("±" is two bytes).
std::size_t columns(const std::string& text) {
  return std::size_t(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

std::string plain(const TableCell& cell) {
  return cell.spread.empty() ? cell.value : cell.value + " ± " + cell.spread;
}

std::string latex_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '\\':
        out += "\\textbackslash{}";
        break;
      case '~':
        out += "\\textasciitilde{}";
        break;
      case '^':
        out += "\\textasciicircum{}";
        break;
      case '&':
      case '%':
      case '$':
      case '#':
      case '_':
      case '{':
      case '}':
        out += '\\';
        out += c;
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string markdown_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '|' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

// Tabs and line ends inside a name would break a TSV row.
std::string tsv_clean(std::string text) {
  std::replace_if(
      text.begin(), text.end(), [](char c) { return c == '\t' || c == '\n' || c == '\r'; }, ' ');
  return text;
}

std::string render_text(const Table& table) {
  std::vector<std::size_t> width(table.header.size());
  for (std::size_t c = 0; c < table.header.size(); ++c) width[c] = columns(table.header[c]);
  for (const auto& row : table.rows) {
    for (std::size_t c = 0; c < row.size(); ++c)
      width[c] = std::max(width[c], columns(plain(row[c])));
  }
  auto line = [&](const std::vector<std::string>& cells, const std::vector<bool>& right) {
    std::string out;
    for (std::size_t c = 0; c < cells.size(); ++c) {
      const std::string pad(width[c] - columns(cells[c]), ' ');
      if (c) out += "  ";
      out += right[c] ? pad + cells[c] : (c + 1 == cells.size() ? cells[c] : cells[c] + pad);
    }
    return out + "\n";
  };
  std::vector<bool> right(table.header.size(), true);
  right[0] = false;
  std::string out = line(table.header, right);
  for (const auto& row : table.rows) {
    std::vector<std::string> cells;
    for (const TableCell& cell : row) cells.push_back(plain(cell));
    out += line(cells, right);
  }
  return out;
}

std::string render_markdown(const Table& table) {
  std::string out = "|";
  for (const std::string& name : table.header) out += " " + markdown_escape(name) + " |";
  out += "\n|";
  for (std::size_t c = 0; c < table.header.size(); ++c) out += c ? " ---: |" : " :--- |";
  out += "\n";
  for (const auto& row : table.rows) {
    out += "|";
    for (const TableCell& cell : row) out += " " + markdown_escape(plain(cell)) + " |";
    out += "\n";
  }
  return out;
}

std::string render_latex(const Table& table) {
  std::string out = "\\begin{tabular}{l" + std::string(table.header.size() - 1, 'r') + "}\n";
  out += "\\toprule\n";
  for (std::size_t c = 0; c < table.header.size(); ++c) {
    out += (c ? " & " : "") + latex_escape(table.header[c]);
  }
  out += " \\\\\n\\midrule\n";
  for (const auto& row : table.rows) {
    for (std::size_t c = 0; c < row.size(); ++c) {
      const TableCell& cell = row[c];
      std::string text = latex_escape(cell.value);
      if (!cell.spread.empty()) text += " $\\pm$ " + cell.spread;
      if (cell.numeric && cell.value == "-") text = "--";
      out += (c ? " & " : "") + text;
    }
    out += " \\\\\n";
  }
  return out + "\\bottomrule\n\\end{tabular}\n";
}

std::string render_tsv(const Table& table) {
  std::string out;
  for (std::size_t c = 0; c < table.header.size(); ++c) {
    out += (c ? "\t" : "") + tsv_clean(table.header[c]);
  }
  out += "\n";
  for (const auto& row : table.rows) {
    for (std::size_t c = 0; c < row.size(); ++c) out += (c ? "\t" : "") + tsv_clean(plain(row[c]));
    out += "\n";
  }
  return out;
}

}  // namespace

TableFormat parse_table_format(const std::string& name) {
  if (name == "text") return TableFormat::kText;
  if (name == "markdown") return TableFormat::kMarkdown;
  if (name == "latex") return TableFormat::kLatex;
  if (name == "tsv") return TableFormat::kTsv;
  throw UsageError("--format '" + name + "': expected text, markdown, latex or tsv");
}

Table make_table(const Summary& summary, int digits) {
  Table table;
  table.header.push_back("method");
  for (const std::string& task : summary.tasks) table.header.push_back(task);
  for (const Group& group : summary.groups) table.header.push_back(group.name);
  const std::size_t tasks = summary.tasks.size(), groups = summary.groups.size();
  const bool group_means = groups >= 2, task_means = tasks >= 2;
  if (group_means) table.header.push_back("mean of " + std::to_string(groups) + " group means");
  if (task_means) table.header.push_back("mean of " + std::to_string(tasks) + " tasks");
  table.header.push_back(summary.with_head ? "params (M, with head)" : "params (M, no head)");
  for (const ExtraColumn& column : summary.extra) table.header.push_back(column.label);

  for (std::size_t m = 0; m < summary.methods.size(); ++m) {
    std::vector<TableCell> row{name_cell(summary.methods[m])};
    for (std::size_t t = 0; t < tasks; ++t) {
      const Stats& cell = summary.cells[m][t];
      TableCell text =
          number_cell(cell.runs ? std::optional<double>(cell.mean) : std::nullopt, digits);
      if (cell.runs > 1) text.spread = fixed(cell.std, digits);
      row.push_back(text);
    }
    for (std::size_t g = 0; g < groups; ++g)
      row.push_back(number_cell(summary.group_mean(m, g), digits));
    if (group_means) row.push_back(number_cell(summary.mean_of_group_means(m), digits));
    if (task_means) row.push_back(number_cell(summary.mean_of_tasks(m), digits));
    row.push_back(number_cell(summary.params[m] / 1e6, 4));
    for (const std::optional<double>& value : summary.extra_values[m]) {
      row.push_back(number_cell(value, digits));
    }
    table.rows.push_back(std::move(row));
  }
  return table;
}

std::string render_table(const Table& table, TableFormat format) {
  switch (format) {
    case TableFormat::kText:
      return render_text(table);
    case TableFormat::kMarkdown:
      return render_markdown(table);
    case TableFormat::kLatex:
      return render_latex(table);
    case TableFormat::kTsv:
      return render_tsv(table);
  }
  return "";
}

}  // namespace vpet::report
