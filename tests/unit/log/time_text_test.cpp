#include "log/time_text.h"

#include <gtest/gtest.h>

#include "test_support.h"

namespace narwhal::log {
namespace {

// 2026-11-29 17:40:00 UTC. Each test uses its own second: the per-thread cache is keyed on it.
constexpr std::time_t kWhen = 1795974000;

TEST(TimeText, AccessTimeUtc) {
  testing::ScopedTimezone tz("UTC0");
  std::string out = "x";
  append_access_time(out, kWhen);
  EXPECT_EQ(out, "x[29/Nov/2026:17:40:00 +0000]");
}

TEST(TimeText, ErrorTimeUtc) {
  testing::ScopedTimezone tz("UTC0");
  std::string out;
  append_error_time(out, kWhen + 1);
  EXPECT_EQ(out, "[2026-11-29 17:40:01 +0000]");
}

TEST(TimeText, PositiveHalfHourOffset) {
  testing::ScopedTimezone tz("XXX-05:30");  // POSIX sign is inverted: UTC+05:30
  std::string access;
  std::string error;
  append_access_time(access, kWhen + 2);
  append_error_time(error, kWhen + 2);
  EXPECT_EQ(access, "[29/Nov/2026:23:10:02 +0530]");  // checked against gunicorn's now()
  EXPECT_EQ(error, "[2026-11-29 23:10:02 +0530]");
}

TEST(TimeText, NegativeOffsetAndMonthBoundary) {
  testing::ScopedTimezone tz("PST8");
  std::string access;
  append_access_time(access, 1767225600);  // 2026-01-01 00:00:00 UTC
  EXPECT_EQ(access, "[31/Dec/2025:16:00:00 -0800]");
}

TEST(TimeText, CacheFollowsTheSecond) {
  testing::ScopedTimezone tz("UTC0");
  std::string a;
  std::string b;
  std::string c;
  append_access_time(a, kWhen + 10);
  append_access_time(b, kWhen + 10);
  append_access_time(c, kWhen + 11);
  EXPECT_EQ(a, b);
  EXPECT_EQ(c, "[29/Nov/2026:17:40:11 +0000]");
}

TEST(TimeText, EveryMonthName) {
  testing::ScopedTimezone tz("UTC0");
  const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (int month = 0; month < 12; ++month) {
    struct tm t = {};
    t.tm_year = 2027 - 1900;
    t.tm_mon = month;
    t.tm_mday = 15;
    std::string out;
    append_access_time(out, ::timegm(&t));
    EXPECT_EQ(out, std::string("[15/") + months[month] + "/2027:00:00:00 +0000]");
  }
}

}  // namespace
}  // namespace narwhal::log
