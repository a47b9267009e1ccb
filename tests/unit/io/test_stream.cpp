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

// Pieces (vit-extract --shard): the first has the header, the last the end
// record with the whole stream's counts; concatenated, they are the stream
// the whole run writes, byte for byte.
TEST_F(StreamTest, PiecesConcatenateToTheWholeStream) {
  const nlohmann::json header = make_header("features", "vit-extract", {"-m", "vit.safetensors"});
  {
    StreamWriter whole(path("whole.vpet"), header);
    for (int i = 0; i < 4; ++i) whole.write(sample_record(i));
    whole.close({{"samples", 8}});
  }
  using Shape = StreamWriter::Shape;
  const std::vector<std::pair<Shape, std::vector<int>>> pieces = {{Shape::kFirstPiece, {0}},
                                                                  {Shape::kMiddlePiece, {1, 2}},
                                                                  {Shape::kMiddlePiece, {}},
                                                                  {Shape::kLastPiece, {3}}};
  std::string joined;
  for (std::size_t p = 0; p < pieces.size(); ++p) {
    const std::string name = path("piece" + std::to_string(p));
    StreamWriter writer(name, header, pieces[p].first);
    for (int i : pieces[p].second) writer.write(sample_record(i));
    writer.close({{"samples", 8}, {"records", 4}});
    joined += slurp(name);
  }
  EXPECT_EQ(joined, slurp(path("whole.vpet")));
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
  // fixmap of 9 (6 fixed keys, end_record, zeta, alpha), then "format":
  // "vpet": a recognisable start.
  EXPECT_EQ(bytes.substr(0, 13), std::string("\x89\xa6"
                                             "format"
                                             "\xa4"
                                             "vpet"));
}

TEST_F(StreamTest, MakeHeaderHasTheFixedKeys) {
  const nlohmann::json h = make_header("tokens", "vit-extract", {"a", "b"});
  EXPECT_EQ(h["format"], "vpet");
  EXPECT_EQ(h["version"], 2);
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
  // Cut inside record 2 (the end record, 25 bytes, follows it).
  const std::size_t cut = bytes.size() - 30;
  spit("cut.vpet", bytes.substr(0, cut));
  const std::string message = read_error(path("cut.vpet"));
  EXPECT_NE(message.find(path("cut.vpet") + ": record 2 (byte "), std::string::npos) << message;
  EXPECT_NE(message.find("truncated"), std::string::npos) << message;
  EXPECT_NE(message.find("ends at byte " + std::to_string(cut)), std::string::npos) << message;

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
  StreamWriter writer(path("mixed.vpet"), make_header("features", "t", {}),
                      StreamWriter::Shape::kOneShot);
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

  msgpack::sbuffer v3;
  msgpack::packer<msgpack::sbuffer> v3_packer(v3);
  header["version"] = 3;
  pack_json(v3_packer, header);
  spit("v3.vpet", std::string(v3.data(), v3.size()));
  EXPECT_NE(read_error(path("v3.vpet")).find("unsupported vpet format version 3"),
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

// A stream cut short between two records (a producer that failed in a
// pipe) is refused, naming the input and how many records came; so are an
// end record that miscounts and anything after it.
TEST_F(StreamTest, AStreamWithoutItsEndRecordIsRefused) {
  {
    StreamWriter writer(path("full.vpet"), make_header("features", "t", {}));
    for (int i = 0; i < 3; ++i) writer.write(sample_record(i));
    writer.close({{"samples", 6}});
  }
  {
    StreamReader reader(path("full.vpet"));
    Record record;
    while (reader.next(record)) {
    }
    EXPECT_EQ(reader.records_read(), 3u);
    EXPECT_EQ(reader.end_record(),
              nlohmann::json({{"format", "vpet-end"}, {"records", 3}, {"samples", 6}}));
    EXPECT_NO_THROW(reader.check_samples(6));
    try {
      reader.check_samples(5);
      FAIL();
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("counts 6 samples, but 5 came"), std::string::npos)
          << e.what();
    }
    EXPECT_FALSE(reader.next(record));
  }
  const std::string bytes = slurp(path("full.vpet"));
  // Streams of 0 to 3 records, each cut where its end record starts.
  for (int records = 0; records <= 3; ++records) {
    {
      StreamWriter writer(path("some.vpet"), make_header("features", "t", {}));
      for (int i = 0; i < records; ++i) writer.write(sample_record(i));
      writer.close();
    }
    const std::string some = slurp(path("some.vpet"));
    const std::size_t end_starts =
        some.rfind(std::string("\x82\xa6"
                               "format\xa8"
                               "vpet-end"));
    ASSERT_NE(end_starts, std::string::npos);
    spit("cut.vpet", some.substr(0, end_starts));
    const std::string message = read_error(path("cut.vpet"));
    EXPECT_NE(message.find(path("cut.vpet") + ": the stream ends after " + std::to_string(records) +
                           " record(s) without its end record"),
              std::string::npos)
        << message;
  }

  spit("after.vpet", bytes + std::string("\x80", 1));
  EXPECT_NE(read_error(path("after.vpet")).find("data after the end record"), std::string::npos);

  // An end record that counts 4 where 3 came: rewrite the fixint after "records".
  std::string miscounted = bytes;
  const std::size_t at = miscounted.rfind("records");
  ASSERT_NE(at, std::string::npos);
  miscounted[at + 7] = 0x04;
  spit("miscounted.vpet", miscounted);
  EXPECT_NE(read_error(path("miscounted.vpet")).find("the end record counts 4 records, but 3 came"),
            std::string::npos)
      << read_error(path("miscounted.vpet"));
}

// Version 1 streams (no end record) and header-less msgpack still read;
// one-shot files have no end record.
TEST_F(StreamTest, OldStreamsAndOneShotFilesNeedNoEndRecord) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  nlohmann::json header = make_header("features", "t", {});
  header["version"] = 1;
  pack_json(packer, header);
  packer.pack_map(1);
  packer.pack(std::string("x"));
  packer.pack(1);
  spit("v1.vpet", std::string(buffer.data(), buffer.size()));
  EXPECT_EQ(read_error(path("v1.vpet")), "no error");

  write_one_shot(path("one.vpet"), make_header("prompts", "t", {}), sample_record(0));
  const std::string one = slurp(path("one.vpet"));
  EXPECT_EQ(one.find("vpet-end"), std::string::npos);
  EXPECT_EQ(one.find("end_record"), std::string::npos);
  const OneShot file = read_one_shot(path("one.vpet"), "prompts");
  EXPECT_FALSE(file.header.contains("end_record"));
  // A stream's header copied into a one-shot file promises no end record there.
  nlohmann::json copied = make_header("prompts", "t", {});
  copied["end_record"] = true;
  write_one_shot(path("copied.vpet"), copied, sample_record(0));
  EXPECT_NO_THROW(read_one_shot(path("copied.vpet"), "prompts"));
}

}  // namespace
}  // namespace vpet::io
