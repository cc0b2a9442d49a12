#include "base/read_buffer.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace narwhal {
namespace {

void append(ReadBuffer& buffer, const std::string& text) {
  ASSERT_GE(buffer.writable(), text.size());
  std::memcpy(buffer.write_position(), text.data(), text.size());
  buffer.commit(text.size());
}

TEST(ReadBuffer, AppendConsumeAndReset) {
  ReadBuffer buffer(64);
  EXPECT_TRUE(buffer.empty());
  append(buffer, "hello world");
  EXPECT_EQ(std::string(buffer.data(), buffer.size()), "hello world");
  buffer.consume(6);
  EXPECT_EQ(std::string(buffer.data(), buffer.size()), "world");
  buffer.consume(5);
  EXPECT_TRUE(buffer.empty());
  // Fully consumed: the whole capacity is writable again.
  EXPECT_EQ(buffer.writable(), 64u);
}

TEST(ReadBuffer, CompactsWhenTheTailIsShort) {
  ReadBuffer buffer(64);
  append(buffer, std::string(60, 'a'));
  buffer.consume(58);
  // Only 4 bytes free at the tail: write_position() moves the 2 live bytes to the front.
  char* position = buffer.write_position();
  EXPECT_EQ(buffer.writable(), 62u);
  EXPECT_EQ(std::string(buffer.data(), buffer.size()), "aa");
  EXPECT_EQ(position, buffer.data() + 2);
}

TEST(ReadBuffer, ClearDropsEverything) {
  ReadBuffer buffer(16);
  append(buffer, "abc");
  buffer.clear();
  EXPECT_TRUE(buffer.empty());
  EXPECT_EQ(buffer.size(), 0u);
}

}  // namespace
}  // namespace narwhal
