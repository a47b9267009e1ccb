// Streaming through a pipe: the reader gets record 1 while the writer is
// still running, i.e. before any later byte and before end of input.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <future>
#include <string>
#include <thread>

#include "vpet/io/stream.h"

namespace vpet::io {
namespace {

Record numbered(int i) {
  Record r;
  r.tensors.emplace_back("x", torch::full({3}, i, torch::kFloat32));
  r.fields["i"] = i;
  return r;
}

TEST(StreamPipe, ReaderSeesEachRecordBeforeTheWriterGoesOn) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  // StreamWriter("-") writes to standard output: point fd 1 at the pipe for
  // the writer's lifetime (nothing else prints meanwhile).
  std::fflush(stdout);
  const int saved_stdout = dup(STDOUT_FILENO);
  ASSERT_EQ(dup2(fds[1], STDOUT_FILENO), STDOUT_FILENO);
  close(fds[1]);

  std::promise<void> got_first;
  std::future<void> first_seen = got_first.get_future();
  std::promise<bool> waited;
  std::future<bool> writer_waited = waited.get_future();
  std::thread writer_thread([&] {
    StreamWriter writer("-", make_header("tokens", "test", {}));
    writer.write(numbered(1));
    // If the reader needed more bytes (or EOF) to return record 1, this
    // times out instead of hanging the test.
    waited.set_value(first_seen.wait_for(std::chrono::seconds(20)) == std::future_status::ready);
    writer.write(numbered(2));
    writer.close();
  });

  bool streamed = false;
  {
    StreamReader reader("/dev/fd/" + std::to_string(fds[0]));
    EXPECT_EQ(reader.header()["kind"], "tokens");
    Record record;
    ASSERT_TRUE(reader.next(record));
    EXPECT_EQ(record.fields["i"], 1);
    got_first.set_value();
    streamed = writer_waited.get();
    ASSERT_TRUE(reader.next(record));
    EXPECT_EQ(record.fields["i"], 2);
    writer_thread.join();
    // The writer is done: restoring stdout closes the pipe's last write end.
    std::fflush(stdout);
    dup2(saved_stdout, STDOUT_FILENO);
    close(saved_stdout);
    EXPECT_FALSE(reader.next(record));
  }
  close(fds[0]);
  EXPECT_TRUE(streamed) << "record 1 reached the reader only after the writer went on";
}

}  // namespace
}  // namespace vpet::io
