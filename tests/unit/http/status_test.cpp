// The one body for every table-driven status case (instantiated in the *_test.cpp files):
// the input must give the expected status (0 = parses) under every split.
#include "test_util.h"

namespace narwhal::http::testing {
namespace {

TEST_P(StatusTest, Status) {
  const StatusCase& c = GetParam();
  const ParseRun run = parse_all(c.input, c.options);
  EXPECT_EQ(run.error_status, c.status) << c.name << ": " << describe(run);
  if (c.status == 0) {
    EXPECT_FALSE(run.requests.empty()) << describe(run);
  }
}

}  // namespace
}  // namespace narwhal::http::testing
