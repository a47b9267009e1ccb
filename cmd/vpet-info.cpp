// vpet-info: print the header and a table of the tensors of a vpet file or
// stream (any msgpack stream of maps), or of a safetensors file.
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>

#include "vpet/cli/program.h"
#include "vpet/cli/tensor_table.h"
#include "vpet/error.h"
#include "vpet/io/safetensors.h"
#include "vpet/io/stream.h"

namespace {

// A safetensors file starts with a little-endian u64 header length and the
// header's '{'; a vpet stream starts with a msgpack map. Decided by content,
// not by name.
bool looks_like_safetensors(const std::string& path) {
  if (path == "-") return false;  // safetensors needs random access anyway
  std::ifstream file(path, std::ios::binary);
  unsigned char start[9];
  if (!file.read(reinterpret_cast<char*>(start), sizeof start)) return false;
  return start[8] == '{';
}

void declare(cxxopts::Options& options) {
  // clang-format off
  options.add_options("Output")
    ("json", "Print one JSON object instead of text")
    ("records", "List every record separately instead of summing up")
    ("input",
     "vpet file or stream, or safetensors file ('-': standard input)",
     cxxopts::value<std::string>()->default_value("-"),
     "FILE");
  // clang-format on
  options.parse_positional({"input"});
}

int show_safetensors(const std::string& path, bool json) {
  vpet::io::TensorMap map = vpet::io::read_safetensors(path);
  vpet::cli::TensorTable table;
  for (const auto& [name, tensor] : map.tensors) table.add(name, tensor);
  if (json) {
    nlohmann::json out = {{"file", path},
                          {"format", "safetensors"},
                          {"metadata", map.metadata},
                          {"tensors", table.to_json()}};
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::cout << "safetensors: " << path << ", " << map.tensors.size() << " tensors\n";
  if (!map.metadata.empty())
    std::cout << "metadata: " << nlohmann::json(map.metadata).dump(2) << "\n";
  table.print(std::cout);
  return 0;
}

int show_stream(const std::string& path, bool json, bool per_record) {
  vpet::io::StreamReader reader(path);
  nlohmann::json header = reader.has_header() ? reader.header() : nlohmann::json();
  if (!json) {
    if (reader.has_header()) {
      std::cout << "header: " << header.dump(2) << "\n";
    } else {
      std::cout << reader.name() << ": msgpack stream without a vpet header\n";
    }
  }
  vpet::cli::TensorTable total;
  nlohmann::json records = nlohmann::json::array();
  nlohmann::json last_fields;
  vpet::io::Record record;
  while (reader.next(record)) {
    last_fields = record.fields;
    if (per_record) {
      vpet::cli::TensorTable table;
      for (const auto& [name, tensor] : record.tensors) table.add(name, tensor);
      if (json) {
        records.push_back({{"tensors", table.to_json()}, {"fields", record.fields}});
      } else {
        std::cout << "record " << reader.records_read() << ":\n";
        table.print(std::cout);
        if (!record.fields.empty()) std::cout << "fields: " << record.fields.dump(2) << "\n";
      }
    } else {
      for (const auto& [name, tensor] : record.tensors) total.add(name, tensor);
    }
  }
  // A one-shot file's fields are part of what it says; a stream's are per record.
  bool show_fields = !per_record && reader.records_read() == 1 && !last_fields.empty();
  if (json) {
    nlohmann::json out = {{"file", reader.name()},
                          {"format", reader.has_header() ? "vpet" : "msgpack"},
                          {"header", header},
                          {"records", reader.records_read()}};
    if (!reader.end_record().empty()) out["end_record"] = reader.end_record();
    if (per_record) {
      out["record_list"] = records;
    } else {
      out["tensors"] = total.to_json();
      if (show_fields) out["fields"] = last_fields;
    }
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::cout << "records: " << reader.records_read() << "\n";
  if (!reader.end_record().empty())
    std::cout << "end record: " << reader.end_record().dump() << "\n";
  if (!per_record && !total.empty()) total.print(std::cout);
  if (show_fields) std::cout << "fields: " << last_fields.dump(2) << "\n";
  return 0;
}

int run(const cxxopts::ParseResult& result) {
  const std::string path = result["input"].as<std::string>();
  const bool json = result.count("json") > 0;
  if (looks_like_safetensors(path)) return show_safetensors(path, json);
  return show_stream(path, json, result.count("records") > 0);
}

}  // namespace

int main(int argc, char** argv) {
  return vpet::cli::run_program(
      {"vpet-info", "Inspect a vpet file or stream, or a safetensors file.", "[OPTIONS] [FILE]",
       declare, run},
      argc, argv);
}
