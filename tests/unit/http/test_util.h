// Helpers for the http unit tests: every parse is checked under all standard splits.
#pragma once

#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "parse_driver.h"

namespace narwhal::http::testing {

inline std::string describe(const ParseRun& r) {
  std::ostringstream out;
  out << r.requests.size() << " request(s)";
  for (const ParsedRequest& q : r.requests)
    out << " [" << q.method << " " << q.target << " HTTP/" << q.version_major << "."
        << q.version_minor << " fields=" << q.headers.size() << " body=" << q.body.size() << "]";
  if (r.error_status) out << " error " << r.error_status << " (" << r.error_reason << ")";
  if (r.error_at_eof) out << " at eof";
  if (!r.violation.empty()) out << " VIOLATION: " << r.violation;
  return out.str();
}

// Parses `input` whole, byte by byte and in random splits; all runs must agree.
inline ParseRun parse_all(std::string_view input, const ParserOptions& options = {}) {
  const std::vector<Split> splits = standard_splits(input.size());
  const ParseRun first = run_parser(input, options, splits[0].sizes);
  EXPECT_EQ(first.violation, "");
  for (size_t i = 1; i < splits.size(); ++i) {
    const ParseRun other = run_parser(input, options, splits[i].sizes);
    EXPECT_TRUE(other == first) << "split " << splits[i].name << ": " << describe(other)
                                << "\n  whole: " << describe(first);
  }
  return first;
}

inline int status_of(std::string_view input, const ParserOptions& options = {}) {
  return parse_all(input, options).error_status;
}

// A GET with a Host field, so that only the rule under test can fail.
inline std::string get(std::string_view target = "/", std::string_view fields = "") {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: example.com\r\n" +
         std::string(fields) + "\r\n";
}

struct StatusCase {
  std::string name;
  std::string input;
  int status;  // 0 = parses
  ParserOptions options = {};
};

inline std::ostream& operator<<(std::ostream& out, const StatusCase& c) { return out << c.name; }

class StatusTest : public ::testing::TestWithParam<StatusCase> {};

inline std::string case_name(const ::testing::TestParamInfo<StatusCase>& info) {
  return info.param.name;
}

}  // namespace narwhal::http::testing
