// Messages to stderr, prefixed with the program's name. stdout carries data only.
#pragma once

#include <string>

namespace vpet::cli {

void set_program_name(const std::string& name);
const std::string& program_name();

// -q: silences info and progress; warnings and errors still print.
void set_quiet(bool quiet);
bool quiet();

void info(const std::string& message);
void warn(const std::string& message);
void error(const std::string& message);

}  // namespace vpet::cli
