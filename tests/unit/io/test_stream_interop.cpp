// Interop with the real peer, Python's msgpack_numpy: vpet reads the files
// tests/fixtures/make_msgpack_fixtures.py wrote, encodes tensors to the same
// bytes, and msgpack_numpy reads what StreamWriter writes.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "vpet/io/stream.h"
#include "vpet/io/tensor_codec.h"
#include "vpet/io/tensor_text.h"

namespace vpet::io {
namespace {

namespace fs = std::filesystem;

const std::string kFixtures = std::string(VPET_FIXTURES) + "/msgpack/";

std::string slurp(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

nlohmann::json expected() {
  return nlohmann::json::parse(slurp(kFixtures + "expected.json"));
}

torch::ScalarType dtype_of(const std::string& name) {
  static const std::map<std::string, torch::ScalarType> kByName = {
      {"float32", torch::kFloat32}, {"float16", torch::kFloat16}, {"bfloat16", torch::kBFloat16},
      {"float64", torch::kFloat64}, {"int64", torch::kInt64},     {"int32", torch::kInt32},
      {"uint8", torch::kUInt8},     {"bool", torch::kBool}};
  return kByName.at(name);
}

// A tensor from the {dtype, shape, values | fill} form of expected.json (and
// of the script's --dump output).
torch::Tensor from_json(const nlohmann::json& spec) {
  const auto shape = spec["shape"].get<std::vector<std::int64_t>>();
  const torch::ScalarType dtype = dtype_of(spec["dtype"]);
  if (spec.contains("fill")) return torch::full(shape, spec["fill"].get<double>(), dtype);
  std::vector<double> values;
  for (const auto& v : spec["values"])
    values.push_back(v.is_boolean() ? v.get<bool>() : v.get<double>());
  return torch::tensor(values, torch::kFloat64).to(dtype).reshape(shape);
}

void expect_tensor(const torch::Tensor& got, const nlohmann::json& spec, const std::string& name) {
  SCOPED_TRACE(name);
  const torch::Tensor want = from_json(spec);
  EXPECT_EQ(got.scalar_type(), want.scalar_type());
  EXPECT_EQ(got.sizes(), want.sizes());
  EXPECT_TRUE(torch::equal(got, want)) << got << "\nvs\n" << want;
}

void expect_records(StreamReader& reader, const nlohmann::json& records) {
  Record record;
  for (const auto& want : records) {
    ASSERT_TRUE(reader.next(record));
    EXPECT_EQ(record.tensors.size(), want["tensors"].size());
    for (auto it = want["tensors"].begin(); it != want["tensors"].end(); ++it) {
      ASSERT_NE(record.find_tensor(it.key()), nullptr) << it.key();
      expect_tensor(record.tensor(it.key()), it.value(), it.key());
    }
    EXPECT_EQ(record.fields, want["fields"]);
  }
  EXPECT_FALSE(reader.next(record));
}

TEST(StreamInterop, ReadsAStreamWrittenByMsgpackNumpy) {
  const nlohmann::json want = expected()["stream.msgpack"];
  StreamReader reader(kFixtures + "stream.msgpack");
  ASSERT_TRUE(reader.has_header());
  EXPECT_EQ(reader.header(), want["header"]);
  reader.require_kind("features");
  expect_records(reader, want["records"]);
}

TEST(StreamInterop, ReadsHeaderlessMsgpackNumpyAndFlaxFiles) {
  StreamReader reader(kFixtures + "headerless.msgpack");
  EXPECT_FALSE(reader.has_header());
  expect_records(reader, expected()["headerless.msgpack"]["records"]);
}

TEST(StreamInterop, EncodesTheSameBytesAsMsgpackNumpyPackb) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  const nlohmann::json arrays = expected()["packb_dtypes.msgpack"];
  for (const auto& spec : arrays) pack_tensor(packer, from_json(spec));
  const std::string want = slurp(kFixtures + "packb_dtypes.msgpack");
  ASSERT_EQ(buffer.size(), want.size());
  EXPECT_TRUE(std::string(buffer.data(), buffer.size()) == want);
}

TEST(StreamInterop, MsgpackNumpyReadsWhatStreamWriterWrote) {
  const std::string python = "/usr/bin/python3";
  const std::string script = std::string(VPET_FIXTURES) + "/make_msgpack_fixtures.py";
  if (access(python.c_str(), X_OK) != 0) GTEST_SKIP() << python << " is missing";

  std::string dir_pattern = (fs::temp_directory_path() / "vpet-interop-XXXXXX").string();
  ASSERT_NE(mkdtemp(dir_pattern.data()), nullptr);
  const fs::path dir = dir_pattern;
  const std::string file = (dir / "out.vpet").string();
  const std::string dump = (dir / "dump.json").string();

  nlohmann::json header = make_header("features", "vit-extract", {"-d", "data/"});
  header["preprocess"] = {{"size", 224}, {"mean", {0.485, 0.456, 0.406}}};
  // Every dtype numpy has (bfloat16 needs ml_dtypes in Python), 0-d, empty
  // and non-contiguous tensors.
  std::vector<Record> records(2);
  const torch::Tensor base = torch::arange(-3, 9, torch::kFloat64).reshape({3, 4}) * 0.75;
  for (auto dtype :
       {torch::kFloat32, torch::kFloat16, torch::kFloat64, torch::kInt64, torch::kInt32}) {
    records[0].tensors.emplace_back(vpet::io::dtype_name(dtype), base.to(dtype));
  }
  records[0].tensors.emplace_back("uint8",
                                  torch::arange(250, 256, torch::kInt64).to(torch::kUInt8));
  records[0].tensors.emplace_back("bool", torch::tensor({true, false}));
  records[0].fields["note"] = "first";
  records[1].tensors.emplace_back("features", base.to(torch::kFloat32).t());
  records[1].tensors.emplace_back("scalar", torch::tensor(1.5f));
  records[1].tensors.emplace_back("empty", torch::zeros({0, 4}, torch::kInt64));
  records[1].fields["list"] = {1, -2, 2.5, "x", nullptr, false};
  {
    StreamWriter writer(file, header);
    for (const Record& r : records) writer.write(r);
    writer.close({{"samples", 5}});
  }

  const int status =
      std::system((python + " " + script + " --dump " + file + " > " + dump).c_str());
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 77) {
    fs::remove_all(dir);
    GTEST_SKIP() << "Python's msgpack_numpy is not installed";
  }
  ASSERT_EQ(WEXITSTATUS(status), 0);
  const nlohmann::json maps = nlohmann::json::parse(slurp(dump));
  fs::remove_all(dir);

  ASSERT_EQ(maps.size(), 4u);
  nlohmann::json stream_header = header;
  stream_header["end_record"] = true;
  EXPECT_EQ(maps[0], stream_header);
  EXPECT_EQ(maps[3], nlohmann::json({{"format", "vpet-end"}, {"records", 2}, {"samples", 5}}));
  for (std::size_t i = 0; i < records.size(); ++i) {
    const nlohmann::json& got = maps[i + 1];
    EXPECT_EQ(got.size(), records[i].tensors.size() + records[i].fields.size());
    for (const auto& [name, tensor] : records[i].tensors) {
      ASSERT_TRUE(got.contains(name)) << name;
      EXPECT_EQ(got[name].value("__ndarray__", false), true) << name;
      EXPECT_EQ(got[name]["dtype"], vpet::io::dtype_name(tensor.scalar_type())) << name;
      expect_tensor(tensor.contiguous(), got[name], name);
    }
    for (auto it = records[i].fields.begin(); it != records[i].fields.end(); ++it) {
      EXPECT_EQ(got[it.key()], it.value()) << it.key();
    }
  }
}

}  // namespace
}  // namespace vpet::io
