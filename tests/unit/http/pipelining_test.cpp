// feed() contract: HeadComplete / MessageComplete sequencing, pipelining, finish(), view
// lifetime, split independence and no per-request allocation after warm-up.
#include <atomic>
#include <cstdlib>
#include <new>

#include "test_util.h"

namespace {
std::atomic<long> g_allocations{0};
}  // namespace

// GCC flags free() in a replacement operator delete as mismatched; it is the matching pair here.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
// Counts every heap allocation in this test binary (used by NoAllocationAfterWarmUp).
void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace narwhal::http::testing {
namespace {

const std::string kGet = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
const std::string kPost = "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nxyz";
const std::string kChunked =
    "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nT: 1\r\n\r\n";

TEST(Pipelining, HeadThenMessageCompleteWithoutBody) {
  RequestParser parser({});
  size_t consumed = 0;
  std::string body;
  const std::string input = kGet + kGet;
  EXPECT_EQ(parser.feed(input.data(), input.size(), &consumed, nullptr), ParseResult::HeadComplete);
  EXPECT_EQ(consumed, kGet.size());
  EXPECT_EQ(parser.head().target, "/a");
  EXPECT_TRUE(parser.message_complete());  // nothing more to read for this message
  EXPECT_EQ(parser.feed(nullptr, 0, &consumed, &body), ParseResult::MessageComplete);
  EXPECT_EQ(consumed, 0u);
  EXPECT_TRUE(parser.message_complete());
  EXPECT_EQ(parser.feed(input.data() + kGet.size(), kGet.size(), &consumed, &body),
            ParseResult::MessageComplete);  // idempotent until next_request()
  EXPECT_EQ(consumed, 0u);
  parser.next_request();
  EXPECT_FALSE(parser.head_started());
  EXPECT_EQ(parser.feed(input.data() + kGet.size(), kGet.size(), &consumed, nullptr),
            ParseResult::HeadComplete);
}

TEST(Pipelining, MessageCompleteDoesNotConsumeNextRequest) {
  RequestParser parser({});
  const std::string input = kPost + kGet;
  size_t consumed = 0;
  std::string body;
  ASSERT_EQ(parser.feed(input.data(), input.size(), &consumed, nullptr), ParseResult::HeadComplete);
  const size_t head_size = consumed;
  ASSERT_EQ(parser.feed(input.data() + head_size, input.size() - head_size, &consumed, &body),
            ParseResult::MessageComplete);
  EXPECT_EQ(body, "xyz");
  EXPECT_EQ(head_size + consumed, kPost.size());
}

TEST(Pipelining, ThreePipelinedRequestsAnySplit) {
  const ParseRun run = parse_all(kGet + kPost + kChunked + kGet);
  ASSERT_EQ(run.requests.size(), 4u) << describe(run);
  EXPECT_EQ(run.requests[1].body, "xyz");
  EXPECT_EQ(run.requests[2].body, "abc");
  EXPECT_EQ(run.requests[2].trailers, (Fields{{"T", "1"}}));
  EXPECT_EQ(run.requests[3].target, "/a");
  EXPECT_EQ(run.error_status, 0);
}

TEST(Pipelining, ManyRandomSplitsAgree) {
  const std::string input = kChunked + kPost + "\r\n" + kGet + kChunked;
  const ParseRun whole = run_parser(input, {}, {input.size()});
  ASSERT_EQ(whole.requests.size(), 4u) << describe(whole);
  for (const Split& s : standard_splits(input.size(), 60))
    EXPECT_TRUE(run_parser(input, {}, s.sizes) == whole) << s.name;
}

TEST(Pipelining, ViewsSurviveBufferReuse) {
  RequestParser parser({});
  std::string buffer = kPost;
  size_t consumed = 0;
  ASSERT_EQ(parser.feed(buffer.data(), buffer.size(), &consumed, nullptr), ParseResult::HeadComplete);
  std::fill(buffer.begin(), buffer.end(), '#');
  EXPECT_EQ(parser.head().method, "POST");
  EXPECT_EQ(parser.head().headers.at(1).value, "3");
}

TEST(Pipelining, NullBodyDiscards) {
  RequestParser parser({});
  size_t consumed = 0;
  ASSERT_EQ(parser.feed(kPost.data(), kPost.size(), &consumed, nullptr), ParseResult::HeadComplete);
  const size_t head = consumed;
  EXPECT_EQ(parser.feed(kPost.data() + head, kPost.size() - head, &consumed, nullptr),
            ParseResult::MessageComplete);
  EXPECT_EQ(consumed, 3u);
}

TEST(Pipelining, UpgradeStopsAfterHead) {
  const std::string input = "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n\x16\x03\x01";
  RequestParser parser({});
  size_t consumed = 0;
  std::string body;
  ASSERT_EQ(parser.feed(input.data(), input.size(), &consumed, nullptr), ParseResult::HeadComplete);
  EXPECT_TRUE(parser.head().upgrade);
  const size_t head = consumed;
  EXPECT_EQ(parser.feed(input.data() + head, input.size() - head, &consumed, &body),
            ParseResult::MessageComplete);
  EXPECT_EQ(consumed, 0u);  // the tunnel bytes belong to the caller
}

TEST(Finish, Outcomes) {
  auto finish_after = [](std::string_view input, bool with_body_step) {
    RequestParser parser({});
    size_t consumed = 0;
    std::string body;
    ParseResult r = parser.feed(input.data(), input.size(), &consumed, nullptr);
    if (with_body_step && r == ParseResult::HeadComplete)
      r = parser.feed(input.data() + consumed, input.size() - consumed, &consumed, &body);
    const ParseResult finished = parser.finish();
    return std::make_pair(finished, parser.error_status());
  };
  EXPECT_EQ(finish_after("", false).first, ParseResult::NeedMore);
  EXPECT_EQ(finish_after("\r\n", false).first, ParseResult::NeedMore);
  EXPECT_EQ(finish_after("GET /foo/bar HTTP/1.0\r\nbaz", false),
            std::make_pair(ParseResult::Error, 400));
  EXPECT_EQ(finish_after("GET", false), std::make_pair(ParseResult::Error, 400));
  EXPECT_EQ(finish_after(kGet, false).first, ParseResult::MessageComplete);
  EXPECT_EQ(finish_after(kPost.substr(0, kPost.size() - 1), true),
            std::make_pair(ParseResult::Error, 400));
  EXPECT_EQ(finish_after(kPost, true).first, ParseResult::MessageComplete);
}

TEST(Allocation, NoAllocationAfterWarmUp) {
  RequestParser parser({});
  const std::string input = kGet + kPost + kChunked;
  std::string body;
  body.reserve(64);
  auto run_once = [&] {
    size_t offset = 0;
    while (offset < input.size()) {
      size_t consumed = 0;
      const ParseResult r = parser.feed(input.data() + offset, input.size() - offset, &consumed, &body);
      offset += consumed;
      if (r == ParseResult::MessageComplete) {
        parser.next_request();
        body.clear();
      }
      ASSERT_NE(r, ParseResult::Error);
    }
  };
  run_once();  // warm-up
  const long before = g_allocations.load();
  for (int i = 0; i < 100; ++i) run_once();
  EXPECT_EQ(g_allocations.load() - before, 0);
}

}  // namespace
}  // namespace narwhal::http::testing
