// The HTTP/2 rows (gunicorn 25+/26.2 names, flags, defaults): validation, and the refusal of h2
// until the engine serves it.
#include <gtest/gtest.h>

#include "config/config.h"

namespace narwhal::config {
namespace {

std::vector<std::string> unsupported_names(const Config& config) {
  std::vector<std::string> names;
  for (const Setting* setting : config.unsupported_settings()) names.push_back(setting->name);
  return names;
}

TEST(Http2Settings, DefaultsAndFlags) {
  Config config;
  EXPECT_EQ(config.get_list("http_protocols"), (StringList{"h1"}));
  EXPECT_EQ(config.get_string("http2_cleartext"), "off");
  EXPECT_EQ(config.get_int("http2_max_concurrent_streams"), 100);
  EXPECT_EQ(config.get_int("http2_initial_window_size"), 65535);
  EXPECT_EQ(config.get_int("http2_max_frame_size"), 16384);
  EXPECT_EQ(config.get_int("http2_max_header_list_size"), 65536);
  EXPECT_EQ(find_setting("http_protocols")->flags, (std::vector<std::string>{"--http-protocols"}));
  EXPECT_EQ(find_setting("http2_max_frame_size")->flags,
            (std::vector<std::string>{"--http2-max-frame-size"}));
  EXPECT_TRUE(unsupported_names(config).empty());
}

TEST(Http2Settings, HttpProtocolsValidated) {
  Config config;
  EXPECT_FALSE(config.set("http_protocols", Value(std::string("H2, h1,h2"))));
  EXPECT_EQ(config.get_list("http_protocols"), (StringList{"h2", "h1"}));
  EXPECT_TRUE(config.set("http_protocols", Value(std::string("h3"))));
  EXPECT_TRUE(config.set("http_protocols", Value(std::string(""))));
  EXPECT_TRUE(config.set("http_protocols", Value(std::string("http/1.1"))));
  EXPECT_FALSE(config.set("http_protocols", Value(StringList{"h1"})));
}

TEST(Http2Settings, RangesFollowRfc9113) {
  Config config;
  EXPECT_TRUE(config.set("http2_max_frame_size", Value(int64_t{16383})));
  EXPECT_TRUE(config.set("http2_max_frame_size", Value(int64_t{16777216})));
  EXPECT_FALSE(config.set("http2_max_frame_size", Value(std::string("16777215"))));
  EXPECT_TRUE(config.set("http2_initial_window_size", Value(int64_t{0x80000000})));
  EXPECT_FALSE(config.set("http2_initial_window_size", Value(int64_t{0})));
  EXPECT_TRUE(config.set("http2_max_concurrent_streams", Value(int64_t{0})));
  EXPECT_TRUE(config.set("http2_cleartext", Value(std::string("yes"))));
  EXPECT_FALSE(config.set("http2_cleartext", Value(std::string("Prior-Knowledge"))));
  EXPECT_EQ(config.get_string("http2_cleartext"), "prior-knowledge");
}

// The engine serves HTTP/2 (docs/http2.md): every row is honoured; the sync worker with h2 and
// the Upgrade to h2c are refused by the start-up check (tests/integration/test_http2.py).
TEST(Http2Settings, RowsAreHonoured) {
  for (const char* name : {"http_protocols", "http2_cleartext", "http2_max_concurrent_streams",
                           "http2_initial_window_size", "http2_max_frame_size", "http2_max_header_list_size"})
    EXPECT_EQ(find_setting(name)->support, Setting::Support::Honoured) << name;
  Config config;
  ASSERT_FALSE(config.set("http_protocols", Value(std::string("h2,h1"))));
  ASSERT_FALSE(config.set("http2_max_concurrent_streams", Value(int64_t{50})));
  EXPECT_TRUE(unsupported_names(config).empty());
}

}  // namespace
}  // namespace narwhal::config
