// Messages to stderr, prefixed with the program's name. stdout carries data only.
#pragma once

#include <string>

namespace vpet::cli {

void set_program_name(const std::string& name);
const std::string& program_name();

// -q: silences info and progress; warnings and errors still print.
void set_quiet(bool quiet);
bool quiet();

// Every message passes through printable() on its way out: it may hold
// paths, keys and labels read from files.
void info(const std::string& message);
void warn(const std::string& message);
void error(const std::string& message);

// A terminal's progress bar (cli::Progress) stays on the last line, below
// the messages: show_status() draws `line` over the previous one, every
// message clears it before printing and draws it again after itself, and
// end_status() leaves it as a finished line (`keep`) or erases it. `line`
// is printed as given: the caller makes it printable and fits it to the
// terminal's width.
void show_status(const std::string& line);
void end_status(bool keep);

// `message` safe for a terminal: control bytes (a CR, an escape sequence;
// newlines kept) and bytes that are not UTF-8 become \xNN, and a message
// over 4096 bytes keeps its first 2048 and last 512 with the count of those
// left out between.
std::string printable(const std::string& message);

}  // namespace vpet::cli
