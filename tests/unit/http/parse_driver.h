// Test driver: runs RequestParser over an input delivered in a given split, the way a server
// would (a read buffer that is compacted and reused), and records what it dispatched.
// Shared by the unit tests and the corpus runner.
#pragma once

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/request_parser.h"

namespace narwhal::http::testing {

using Fields = std::vector<std::pair<std::string, std::string>>;

struct ParsedRequest {
  std::string method, target;
  int version_major = 0, version_minor = 0;
  TargetForm target_form = TargetForm::Origin;
  Fields headers, trailers;
  std::string body;
  bool keep_alive = false, chunked = false, expect_continue = false, upgrade = false;
  bool operator==(const ParsedRequest&) const = default;
};

struct ParseRun {
  std::vector<ParsedRequest> requests;
  int error_status = 0;       // 0 = no error
  std::string error_reason;
  bool error_at_eof = false;  // the error came from finish()
  bool stopped = false;       // stopped after a non-persistent / upgraded message
  std::string violation;      // a broken feed() contract (must stay empty)
  bool has_incomplete = false;  // input ended inside a message after its head
  ParsedRequest incomplete;     // that message's head and the body bytes delivered
  bool operator==(const ParseRun&) const = default;
};

struct Split {
  std::string name;
  std::vector<size_t> sizes;  // chunk sizes; the last chunk takes whatever is left
};

inline ParsedRequest capture(const RequestHead& h) {
  ParsedRequest r;
  r.method = std::string(h.method);
  r.target = std::string(h.target);
  r.version_major = h.version_major;
  r.version_minor = h.version_minor;
  r.target_form = h.target_form;
  for (const Header& f : h.headers) r.headers.emplace_back(f.name, f.value);
  for (const Header& f : h.trailers) r.trailers.emplace_back(f.name, f.value);
  r.keep_alive = h.keep_alive;
  r.chunked = h.chunked;
  r.expect_continue = h.expect_continue;
  r.upgrade = h.upgrade;
  return r;
}

inline ParseRun run_parser(std::string_view input, const ParserOptions& options,
                           const std::vector<size_t>& sizes) {
  ParseRun run;
  RequestParser parser(options);
  std::string pending, body;
  size_t offset = 0, chunk = 0;
  bool in_message = false;
  ParsedRequest current;
  auto pull = [&]() {
    if (offset >= input.size()) return false;
    size_t n = chunk < sizes.size() ? sizes[chunk] : input.size();
    ++chunk;
    n = std::min(std::max<size_t>(n, 1), input.size() - offset);
    pending.append(input.substr(offset, n));
    offset += n;
    return true;
  };
  pull();
  for (size_t guard = 0; guard < 4 * input.size() + 64; ++guard) {
    size_t consumed = SIZE_MAX;
    const ParseResult r =
        parser.feed(pending.data(), pending.size(), &consumed, in_message ? &body : nullptr);
    if (consumed > pending.size()) {
      run.violation = "consumed more than given";
      return run;
    }
    // Scribble over consumed bytes: head() must not point into the caller's buffer.
    std::fill(pending.begin(), pending.begin() + long(consumed), '\xAA');
    pending.erase(0, consumed);
    switch (r) {
      case ParseResult::NeedMore:
        if (!pending.empty()) {
          run.violation = "NeedMore without consuming everything";
          return run;
        }
        if (!pull()) {
          if (in_message) {
            run.has_incomplete = true;
            run.incomplete = current;
            run.incomplete.body = body;
          }
          const ParseResult f = parser.finish();
          if (f == ParseResult::Error) {
            run.error_status = parser.error_status();
            run.error_reason = std::string(parser.error_reason());
            run.error_at_eof = true;
          } else if (f != ParseResult::NeedMore) {
            run.violation = "finish() reported a message that feed() did not";
          }
          return run;
        }
        break;
      case ParseResult::HeadComplete:
        if (in_message) {
          run.violation = "two HeadComplete for one message";
          return run;
        }
        current = capture(parser.head());
        in_message = true;
        body.clear();
        break;
      case ParseResult::MessageComplete: {
        if (!in_message) {
          run.violation = "MessageComplete without HeadComplete";
          return run;
        }
        ParsedRequest done = capture(parser.head());
        done.trailers.clear();
        if (!(done == current)) {
          run.violation = "head() changed between HeadComplete and MessageComplete";
          return run;
        }
        current.trailers = capture(parser.head()).trailers;
        current.body = body;
        run.requests.push_back(current);
        in_message = false;
        if (!current.keep_alive || current.upgrade) {
          run.stopped = true;
          return run;
        }
        parser.next_request();
        break;
      }
      case ParseResult::Error:
        run.error_status = parser.error_status();
        run.error_reason = std::string(parser.error_reason());
        if (parser.feed("x", 1, &consumed, &body) != ParseResult::Error || consumed != 0)
          run.violation = "parser continued after an error";
        return run;
    }
  }
  run.violation = "no progress";
  return run;
}

// Whole, one byte at a time, a 1-byte first read, and random chunkings with fixed seeds.
inline std::vector<Split> standard_splits(size_t length, int random_splits = 6) {
  std::vector<Split> splits;
  splits.push_back({"whole", {length}});
  splits.push_back({"bytewise", std::vector<size_t>(length, 1)});
  splits.push_back({"first_byte", {1, length}});
  for (int seed = 1; seed <= random_splits; ++seed) {
    std::mt19937 rng(uint32_t(seed) * 7919u);
    const size_t max_chunk = seed % 2 ? 7 : std::max<size_t>(2, length / 3);
    std::uniform_int_distribution<size_t> d(1, max_chunk);
    Split s{"random" + std::to_string(seed), {}};
    for (size_t total = 0; total < length;) total += s.sizes.emplace_back(d(rng));
    splits.push_back(std::move(s));
  }
  return splits;
}

}  // namespace narwhal::http::testing
