// libFuzzer target for the request parser.
//
// Input: byte 0 = options flags, byte 1 = split seed, the rest = bytes on one connection
// (often several pipelined requests, chunked bodies). Checks, beyond "no crash/UB":
//  1. the result is identical whole, byte by byte and in a seeded random split;
//  2. the feed() contract holds (parse_driver.h: NeedMore consumes all, views survive the
//     caller's buffer being overwritten, nothing parsed after an error);
//  3. differential framing against llhttp: for every message both parsers complete, the
//     decoded bodies are equal (a disagreement is a request-smuggling bug in one of them).
#include <llhttp.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "parse_driver.h"

namespace {

using narwhal::http::HeaderMap;
using narwhal::http::ParserOptions;
using namespace narwhal::http::testing;

ParserOptions options_from(uint8_t flags) {
  ParserOptions o;
  o.header_map = (flags & 3) == 1 ? HeaderMap::Refuse
                 : (flags & 3) == 2 ? HeaderMap::Dangerous
                                    : HeaderMap::Drop;
  o.permit_unconventional_http_method = flags & 4;
  o.casefold_http_method = flags & 8;
  o.require_host = !(flags & 16);
  if (flags & 32) o.limits = {64, 8, 64, 32};
  o.permit_obsolete_folding = o.strip_header_spaces = flags & 64;  // the relaxations, in pairs
  o.permit_unconventional_http_version = o.tolerate_dangerous_framing = flags & 128;
  return o;
}

// llhttp's view of the same bytes: the bodies of the messages it completes.
struct LlhttpRun {
  std::vector<std::string> bodies;
  std::string current;
};

int on_body(llhttp_t* p, const char* at, size_t n) {
  static_cast<LlhttpRun*>(p->data)->current.append(at, n);
  return 0;
}
int on_message_complete(llhttp_t* p) {
  auto* run = static_cast<LlhttpRun*>(p->data);
  run->bodies.push_back(std::move(run->current));
  run->current.clear();
  return 0;
}

LlhttpRun run_llhttp(const std::string& input) {
  static llhttp_settings_t settings = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_body = on_body;
    s.on_message_complete = on_message_complete;
    return s;
  }();
  LlhttpRun run;
  llhttp_t parser;
  llhttp_init(&parser, HTTP_REQUEST, &settings);
  parser.data = &run;
  llhttp_execute(&parser, input.data(), input.size());  // stops at its first error
  return run;
}

std::string describe(const ParseRun& r) {
  std::string s = std::to_string(r.requests.size()) + " requests, error " +
                  std::to_string(r.error_status) + " " + r.error_reason;
  if (!r.violation.empty()) s += " VIOLATION " + r.violation;
  return s;
}

[[noreturn]] void fail(const char* what, const ParseRun& a, const ParseRun& b) {
  std::fprintf(stderr, "FUZZ FAILURE: %s\n  A: %s\n  B: %s\n", what, describe(a).c_str(),
               describe(b).c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const ParserOptions options = options_from(data[0]);
  const std::string input(reinterpret_cast<const char*>(data) + 2, size - 2);

  const ParseRun whole = run_parser(input, options, {input.size()});
  if (!whole.violation.empty()) fail("contract violation", whole, whole);
  const ParseRun bytewise = run_parser(input, options, std::vector<size_t>(input.size(), 1));
  if (!(bytewise == whole)) fail("bytewise split differs", whole, bytewise);
  std::mt19937 rng(data[1]);
  std::uniform_int_distribution<size_t> chunk(1, 1 + data[1] % 64);
  std::vector<size_t> sizes;
  for (size_t total = 0; total < input.size();) total += sizes.emplace_back(chunk(rng));
  const ParseRun random = run_parser(input, options, sizes);
  if (!(random == whole)) fail("random split differs", whole, random);

  // Differential framing: compare the messages both parsers completed.
  const LlhttpRun other = run_llhttp(input);
  const size_t both = std::min(whole.requests.size(), other.bodies.size());
  for (size_t i = 0; i < both; ++i)
    if (whole.requests[i].body != other.bodies[i]) {
      std::fprintf(stderr, "FUZZ FAILURE: body of message %zu differs from llhttp\n", i);
      std::abort();
    }
  return 0;
}
