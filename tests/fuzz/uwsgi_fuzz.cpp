// libFuzzer target for the uwsgi request parser (RequestParser with ParserOptions::uwsgi).
//
// Input: byte 0 = options flags (small limits), byte 1 = split seed, the rest = bytes on one
// connection (usually packets and bodies). Checks, beyond "no crash/UB": the result is the same
// whole, byte by byte and in a seeded random split, and the feed() contract holds
// (parse_driver.h).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "parse_driver.h"

namespace {

using narwhal::http::ParserOptions;
using namespace narwhal::http::testing;

[[noreturn]] void fail(const char* what, const ParseRun& run) {
  std::fprintf(stderr, "FUZZ FAILURE: %s (violation '%s', %zu requests, error %d %s)\n", what,
               run.violation.c_str(), run.requests.size(), run.error_status, run.error_reason.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  ParserOptions options;
  options.uwsgi = true;
  if (data[0] & 1) options.limits = {64, 8, 64, 32};
  const std::string input(reinterpret_cast<const char*>(data) + 2, size - 2);
  const ParseRun whole = run_parser(input, options, {input.size()});
  if (!whole.violation.empty()) fail("contract violation", whole);
  const ParseRun bytewise = run_parser(input, options, std::vector<size_t>(input.size(), 1));
  if (!(bytewise == whole)) fail("bytewise split differs", bytewise);
  std::mt19937 rng(data[1]);
  std::uniform_int_distribution<size_t> chunk(1, 1 + data[1] % 64);
  std::vector<size_t> sizes;
  for (size_t total = 0; total < input.size();) total += sizes.emplace_back(chunk(rng));
  const ParseRun random = run_parser(input, options, sizes);
  if (!(random == whole)) fail("random split differs", random);
  return 0;
}
