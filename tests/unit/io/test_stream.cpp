// vpet streams through files: header and records round trip, header-less
// input, and the errors a user sees for broken or hostile input.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "vpet/error.h"
#include "vpet/io/msgpack_json.h"
#include "vpet/io/stream.h"
#include "vpet/io/tensor_codec.h"

namespace vpet::io {
namespace {

namespace fs = std::filesystem;

class StreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "vpet-stream-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  static std::string slurp(const std::string& file) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  void spit(const std::string& name, const std::string& bytes) const {
    std::ofstream(path(name), std::ios::binary) << bytes;
  }
  // The message of the vpet::Error that reading every record of `file` gives.
  static std::string read_error(const std::string& file) {
    try {
      StreamReader reader(file);
      Record record;
      while (reader.next(record)) {
      }
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  }

  fs::path dir_;
};

Record sample_record(int i) {
  Record r;
  r.tensors.emplace_back("features", torch::arange(6, torch::kFloat32).reshape({2, 3}) + i);
  r.tensors.emplace_back("labels", torch::tensor({std::int64_t{i}, std::int64_t{-i}}));
  r.tensors.emplace_back("index", torch::tensor({std::int64_t{2 * i}, std::int64_t{2 * i + 1}}));
  r.fields["split"] = "train";
  r.fields["i"] = i;
  r.fields["nested"] = {{"a", {1, 2.5, nullptr, true}}, {"b", nlohmann::json::binary({1, 2})}};
  return r;
}

void expect_record(const Record& got, const Record& want) {
  ASSERT_EQ(got.tensors.size(), want.tensors.size());
  for (std::size_t i = 0; i < want.tensors.size(); ++i) {
    EXPECT_EQ(got.tensors[i].first, want.tensors[i].first);
    EXPECT_EQ(got.tensors[i].second.scalar_type(), want.tensors[i].second.scalar_type());
    EXPECT_TRUE(torch::equal(got.tensors[i].second, want.tensors[i].second));
  }
  EXPECT_EQ(got.fields, want.fields);
}

TEST_F(StreamTest, HeaderAndRecordsRoundTripThroughAFile) {
  nlohmann::json header = make_header("features", "vit-extract", {"-m", "vit.safetensors"});
  header["backbone"] = {{"sha256", "ab12"}, {"layers", 12}};
  StreamWriter writer(path("f.vpet"), header);
  for (int i = 0; i < 3; ++i) writer.write(sample_record(i));
  EXPECT_EQ(writer.records_written(), 3u);
  writer.close();
  EXPECT_THROW(writer.write(sample_record(0)), Error);

  StreamReader reader(path("f.vpet"));
  ASSERT_TRUE(reader.has_header());
  EXPECT_EQ(reader.header(), header);
  EXPECT_EQ(reader.header()["program_version"], VPET_VERSION);
  EXPECT_NO_THROW(reader.require_kind("features"));
  Record record;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(reader.next(record));
    expect_record(record, sample_record(i));
  }
  EXPECT_FALSE(reader.next(record));
  EXPECT_EQ(reader.records_read(), 3u);
}

TEST_F(StreamTest, OutputIsReproducibleAndStartsWithTheFormatKey) {
  for (const char* name : {"a.vpet", "b.vpet"}) {
    nlohmann::json header = make_header("plan", "spt-sensitivity", {"--budget", "0.5"});
    header["zeta"] = 1;
    header["alpha"] = "x";
    StreamWriter writer(path(name), header);
    writer.write(sample_record(1));
    writer.close();
  }
  const std::string bytes = slurp(path("a.vpet"));
  EXPECT_EQ(bytes, slurp(path("b.vpet")));
  // fixmap of 8, then "format": "vpet": a recognisable start.
  EXPECT_EQ(bytes.substr(0, 13), std::string("\x88\xa6"
                                             "format"
                                             "\xa4"
                                             "vpet"));
}

TEST_F(StreamTest, MakeHeaderHasTheFixedKeys) {
  const nlohmann::json h = make_header("tokens", "vit-extract", {"a", "b"});
  EXPECT_EQ(h["format"], "vpet");
  EXPECT_EQ(h["version"], 1);
  EXPECT_EQ(h["kind"], "tokens");
  EXPECT_EQ(h["program"], "vit-extract");
  EXPECT_EQ(h["program_version"], VPET_VERSION);
  EXPECT_EQ(h["args"], nlohmann::json({"a", "b"}));
  EXPECT_EQ(h.size(), 6u);
}

TEST_F(StreamTest, RequireKindAndMissingTensorSayWhatIsWrong) {
  StreamWriter writer(path("p.vpet"), make_header("prompts", "prompt-init-proto", {}));
  writer.write(sample_record(0));
  writer.close();
  StreamReader reader(path("p.vpet"));
  try {
    reader.require_kind("features");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'prompts' stream, but a 'features'"), std::string::npos)
        << e.what();
  }
  Record record;
  ASSERT_TRUE(reader.next(record));
  EXPECT_EQ(record.find_tensor("nope"), nullptr);
  try {
    record.tensor("nope");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no tensor 'nope' (it has: features, labels, index)"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(StreamTest, WriterRefusesBadHeadersAndRecordsBeforeWritingAByte) {
  EXPECT_THROW(StreamWriter(path("x"), nlohmann::json{{"kind", "features"}}), Error);
  StreamWriter writer(path("w.vpet"), make_header("features", "t", {}));
  Record dup;
  dup.fields["x"] = 1;
  dup.tensors.emplace_back("x", torch::ones({1}));
  EXPECT_THROW(writer.write(dup), Error);
  Record bad_dtype;
  bad_dtype.tensors.emplace_back("c", torch::ones({1}, torch::kInt16));
  EXPECT_THROW(writer.write(bad_dtype), Error);
  Record undefined;
  undefined.tensors.emplace_back("u", torch::Tensor());
  EXPECT_THROW(writer.write(undefined), Error);
  writer.write(sample_record(0));
  writer.close();
  StreamReader reader(path("w.vpet"));
  Record record;
  ASSERT_TRUE(reader.next(record));
  expect_record(record, sample_record(0));
  EXPECT_FALSE(reader.next(record));
}

TEST_F(StreamTest, WriterDestroyedWithoutCloseLeavesNoFile) {
  try {
    StreamWriter writer(path("gone.vpet"), make_header("features", "t", {}));
    writer.write(sample_record(0));
    throw std::runtime_error("interrupted");
  } catch (const std::runtime_error&) {
  }
  EXPECT_TRUE(fs::is_empty(dir_));
}

TEST_F(StreamTest, HeaderlessMsgpackIsReadAsRecords) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  for (int i = 0; i < 2; ++i) {
    packer.pack_map(2);
    packer.pack(std::string("w"));
    pack_tensor(packer, torch::full({2}, i, torch::kFloat32));
    packer.pack(std::string("format"));  // present, but not "vpet"
    packer.pack(std::string("other"));
  }
  spit("plain.msgpack", std::string(buffer.data(), buffer.size()));
  StreamReader reader(path("plain.msgpack"));
  EXPECT_FALSE(reader.has_header());
  EXPECT_THROW(reader.header(), Error);
  EXPECT_THROW(reader.require_kind("features"), Error);
  Record record;
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(reader.next(record));
    EXPECT_TRUE(torch::equal(record.tensor("w"), torch::full({2}, i, torch::kFloat32)));
    EXPECT_EQ(record.fields["format"], "other");
  }
  EXPECT_FALSE(reader.next(record));
}

TEST_F(StreamTest, NestedTensorsAreFlattenedWithDottedNames) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  packer.pack_map(2);
  packer.pack(std::string("model"));
  packer.pack_map(2);
  packer.pack(std::string("w"));
  pack_tensor(packer, torch::ones({2, 2}));
  packer.pack(std::string("layers"));
  packer.pack_array(2);
  pack_tensor(packer, torch::zeros({1}));
  packer.pack(std::string("not a tensor"));
  packer.pack(std::string("plain"));
  packer.pack_map(1);
  packer.pack(std::string("x"));
  packer.pack(1);
  spit("nested.msgpack", std::string(buffer.data(), buffer.size()));
  StreamReader reader(path("nested.msgpack"));
  Record record;
  ASSERT_TRUE(reader.next(record));
  ASSERT_EQ(record.tensors.size(), 2u);
  EXPECT_EQ(record.tensors[0].first, "model.w");
  EXPECT_EQ(record.tensors[1].first, "model.layers.0");
  EXPECT_EQ(record.fields["model.layers.1"], "not a tensor");
  EXPECT_EQ(record.fields["plain"], nlohmann::json({{"x", 1}}));
}

TEST_F(StreamTest, TruncatedFileNamesRecordAndByteOffset) {
  StreamWriter writer(path("full.vpet"), make_header("features", "t", {}));
  writer.write(sample_record(0));
  writer.write(sample_record(1));
  writer.close();
  const std::string bytes = slurp(path("full.vpet"));
  spit("cut.vpet", bytes.substr(0, bytes.size() - 5));
  const std::string message = read_error(path("cut.vpet"));
  EXPECT_NE(message.find(path("cut.vpet") + ": record 2 (byte "), std::string::npos) << message;
  EXPECT_NE(message.find("truncated"), std::string::npos) << message;
  EXPECT_NE(message.find("ends at byte " + std::to_string(bytes.size() - 5)), std::string::npos)
      << message;

  spit("cut-header.vpet", bytes.substr(0, 10));
  const std::string header_message = read_error(path("cut-header.vpet"));
  EXPECT_NE(header_message.find("header (byte 0)"), std::string::npos) << header_message;
  EXPECT_NE(header_message.find("truncated"), std::string::npos) << header_message;
}

TEST_F(StreamTest, GarbageIsRefusedWithAClearMessage) {
  spit("text.txt", "hello, world\n");
  EXPECT_NE(read_error(path("text.txt")).find("not a map"), std::string::npos);
  spit("c1.bin", std::string("\xc1\x00\x00", 3));
  EXPECT_NE(read_error(path("c1.bin")).find("malformed msgpack"), std::string::npos);
  spit("empty.bin", "");
  EXPECT_NE(read_error(path("empty.bin")).find("empty input"), std::string::npos);
  EXPECT_NE(read_error(path("missing.vpet")).find("cannot open"), std::string::npos);

  // A good header followed by a value that is not a map.
  StreamWriter writer(path("mixed.vpet"), make_header("features", "t", {}));
  writer.close();
  std::string bytes = slurp(path("mixed.vpet"));
  const std::size_t header_size = bytes.size();
  bytes += "\x93\x01\x02\x03";
  spit("mixed.vpet", bytes);
  const std::string message = read_error(path("mixed.vpet"));
  EXPECT_NE(message.find("record 1 (byte " + std::to_string(header_size) +
                         "): top-level value is "
                         "an array, not a map"),
            std::string::npos)
      << message;
}

TEST_F(StreamTest, HostileLengthsNeitherAllocateNorHang) {
  // Containers and payloads that declare ~4 G entries/bytes and end at once.
  for (const std::string& bytes :
       {std::string("\xdd\xff\xff\xff\xff", 5), std::string("\xdf\x7f\xff\xff\xff", 5),
        std::string("\x81\xa1x\xc6\xff\xff\xff\xff", 8),
        std::string("\x81\xa1x\xc9\xff\xff\xff\xff\x01", 9)}) {
    spit("hostile.bin", bytes);
    const std::string message = read_error(path("hostile.bin"));
    EXPECT_NE(message.find("truncated"), std::string::npos) << message;
  }
  // A map declaring 4 G nested maps of 4 G entries each: more than any record may hold.
  std::string nested("\xdf\xff\xff\xff\xff", 5);
  for (int i = 0; i < 3; ++i) nested += std::string("\xa1x\xdf\xff\xff\xff\xff", 7);
  spit("nested.bin", nested);
  EXPECT_NE(read_error(path("nested.bin")).find("larger than 8 GiB"), std::string::npos);
  // Deep nesting is refused, not recursed into.
  std::string deep = "\x81\xa1x";
  deep += std::string(100000, '\x91');
  deep += '\xc0';
  spit("deep.bin", deep);
  EXPECT_NE(read_error(path("deep.bin")).find("nested deeper"), std::string::npos);
}

// Every cut and every single-byte corruption of a small stream either reads
// or fails with a vpet::Error: no crash, no hang, no foreign exception.
TEST_F(StreamTest, CorruptedStreamsFailOnlyWithVpetErrors) {
  StreamWriter writer(path("good.vpet"), make_header("features", "t", {"a"}));
  writer.write(sample_record(1));
  Record flax_like;
  flax_like.tensors.emplace_back("h", torch::ones({2, 2}, torch::kBFloat16));
  flax_like.tensors.emplace_back("m", torch::tensor({true}));
  writer.write(flax_like);
  writer.close();
  const std::string good = slurp(path("good.vpet"));
  const auto survives = [&](const std::string& bytes) {
    spit("bad.vpet", bytes);
    try {
      StreamReader reader(path("bad.vpet"));
      Record record;
      while (reader.next(record)) {
      }
    } catch (const Error&) {
    } catch (const std::exception& e) {
      ADD_FAILURE() << "foreign exception: " << e.what();
    }
  };
  for (std::size_t cut = 0; cut < good.size(); ++cut) survives(good.substr(0, cut));
  for (std::size_t i = 0; i < good.size(); ++i) {
    for (char value : {'\x00', '\xc1', '\xdd'}) {
      std::string bad = good;
      bad[i] = value;
      survives(bad);
    }
  }
}

TEST_F(StreamTest, BadTensorAndVersionErrorsNameTheRecord) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  nlohmann::json header = make_header("features", "t", {});
  pack_json(packer, header);
  const std::size_t header_size = buffer.size();
  packer.pack_map(1);
  packer.pack(std::string("w"));
  packer.pack_map(2);
  packer.pack(std::string("nd"));
  packer.pack_true();
  packer.pack(std::string("type"));
  packer.pack(std::string("<c8"));
  spit("badtensor.vpet", std::string(buffer.data(), buffer.size()));
  const std::string message = read_error(path("badtensor.vpet"));
  EXPECT_NE(message.find("record 1 (byte " + std::to_string(header_size) + "): tensor 'w': "),
            std::string::npos)
      << message;

  msgpack::sbuffer v2;
  msgpack::packer<msgpack::sbuffer> v2_packer(v2);
  header["version"] = 2;
  pack_json(v2_packer, header);
  spit("v2.vpet", std::string(v2.data(), v2.size()));
  EXPECT_NE(read_error(path("v2.vpet")).find("unsupported vpet format version 2"),
            std::string::npos);
}

TEST_F(StreamTest, LargeTensorRoundTrips) {
  // 24 MiB: many read chunks and unpacker buffer growths.
  const torch::Tensor big = torch::arange(6 * 1024 * 1024, torch::kFloat32).reshape({1024, -1});
  StreamWriter writer(path("big.vpet"), make_header("features", "t", {}));
  Record r;
  r.tensors.emplace_back("big", big);
  writer.write(r);
  writer.write(r);
  writer.close();
  StreamReader reader(path("big.vpet"));
  Record record;
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(reader.next(record));
    EXPECT_TRUE(torch::equal(record.tensor("big"), big));
  }
  EXPECT_FALSE(reader.next(record));
}

}  // namespace
}  // namespace vpet::io
