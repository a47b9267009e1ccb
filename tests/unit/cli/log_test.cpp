// Messages are safe for a terminal whatever a file put into them.
#include <gtest/gtest.h>

#include "vpet/cli/log.h"

namespace vpet::cli {
namespace {

TEST(Printable, ControlBytesAndBrokenUtf8AreEscapedNewlinesAndUtf8Kept) {
  EXPECT_EQ(printable("a\rb\x1b[2Jc\x7f"), "a\\x0Db\\x1B[2Jc\\x7F");
  EXPECT_EQ(printable(std::string("nul\0here", 8)), "nul\\x00here");
  EXPECT_EQ(printable("two\nlines"), "two\nlines");
  EXPECT_EQ(printable("caf\xc3\xa9 \xe2\x80\xa6"), "caf\xc3\xa9 \xe2\x80\xa6");
  EXPECT_EQ(printable("bad \xc3 and \xff"), "bad \\xC3 and \\xFF");
  EXPECT_EQ(printable("overlong \xc0\xaf"), "overlong \\xC0\\xAF");
}

TEST(Printable, AMegabyteMessageIsShortenedAtCharacterBoundaries) {
  std::string message = "path ";
  for (int i = 0; i < 500000; ++i) message += "\xc3\xa9";  // é, 2 bytes each
  const std::string out = printable(message);
  EXPECT_LT(out.size(), 3000u);
  EXPECT_NE(out.find(" bytes left out "), std::string::npos);
  EXPECT_EQ(out.find("\\x"), std::string::npos);  // no é was cut in half
}

}  // namespace
}  // namespace vpet::cli
