// The msgpack stream reader: a header, records of any kind, the end record.
#include "vpet/io/stream.h"
#include "fuzz/fuzz.h"

VPET_FUZZ_TARGET(stream) {
  const vpet::fuzz::InputFile file(data, size);
  vpet::fuzz::expect_clean_failure([&] {
    vpet::io::StreamReader reader(file.path());
    if (reader.has_header()) reader.require_kind(reader.header().value("kind", ""));
    vpet::io::Record record;
    while (reader.next(record)) {
      for (const auto& [name, tensor] : record.tensors) (void)tensor.sum();
    }
    (void)reader.end_record();
  });
  return 0;
}
