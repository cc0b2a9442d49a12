// Micro-benchmark: narwhal::http::RequestParser vs llhttp (strict mode) on the same bytes.
//
// Both parsers get the whole input in one call (as after one read()), are reused across
// iterations (no construction in the loop), and do comparable work: every request is parsed to
// MessageComplete and the decoded body is appended to a std::string (narwhal also produces the
// header views; llhttp's callbacks for fields are empty, which favours llhttp).
// Reported: nanoseconds per request, the best of several repetitions (plain std::chrono, no
// dependency). Usage: http_parser_bench [min_seconds_per_case] (default 0.3).
#include <llhttp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "http/request_parser.h"

namespace {

using narwhal::http::ParseResult;
using narwhal::http::ParserOptions;
using narwhal::http::RequestParser;

struct Case {
  std::string name;
  std::string bytes;
  int requests;  // messages in `bytes`
};

std::string browser_get() {
  return "GET /static/app/main.css?v=3f2a9c HTTP/1.1\r\n"
         "Host: www.example.com\r\n"
         "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0\r\n"
         "Accept: text/css,*/*;q=0.1\r\n"
         "Accept-Language: en-GB,en;q=0.5\r\n"
         "Accept-Encoding: gzip, deflate, br\r\n"
         "Referer: https://www.example.com/account/settings\r\n"
         "Connection: keep-alive\r\n"
         "Cookie: session=8f14e45fceea167a5a36dedd4bea2543; theme=dark; _ga=GA1.2.1234567890.1690000000\r\n"
         "Sec-Fetch-Dest: style\r\n"
         "Sec-Fetch-Mode: no-cors\r\n"
         "Sec-Fetch-Site: same-origin\r\n"
         "If-None-Match: \"5e1f-61c2b3a4\"\r\n"
         "\r\n";
}

std::vector<Case> make_cases() {
  std::vector<Case> cases;
  cases.push_back({"small GET", "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", 1});
  cases.push_back({"browser GET (12 fields)", browser_get(), 1});
  std::string batch;
  for (int i = 0; i < 16; ++i) batch += browser_get();
  cases.push_back({"pipelined 16 x browser GET", batch, 16});
  std::string chunked =
      "POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\n"
      "Transfer-Encoding: chunked\r\n\r\n";
  std::string piece(4096, 'x');
  for (int i = 0; i < 16; ++i) chunked += "1000\r\n" + piece + "\r\n";  // 16 x 4 KiB = 64 KiB
  chunked += "0\r\n\r\n";
  cases.push_back({"POST 64 KiB chunked body", chunked, 1});
  return cases;
}

// ---- narwhal ----
struct NarwhalRunner {
  RequestParser parser{ParserOptions{}};
  std::string body;
  int run(const std::string& input) {
    const char* data = input.data();
    size_t left = input.size();
    int messages = 0;
    for (;;) {
      size_t consumed = 0;
      ParseResult result = parser.feed(data, left, &consumed, &body);
      data += consumed;
      left -= consumed;
      if (result == ParseResult::MessageComplete) {
        ++messages;
        parser.next_request();
        body.clear();
        if (left == 0) return messages;
      } else if (result == ParseResult::Error) {
        std::fprintf(stderr, "narwhal parser error %d\n", parser.error_status());
        std::exit(1);
      } else if (result == ParseResult::NeedMore && left == 0) {
        std::fprintf(stderr, "narwhal parser: incomplete input\n");
        std::exit(1);
      }
    }
  }
};

// ---- llhttp (strict: LLHTTP_STRICT_MODE=1 from third_party/llhttp) ----
struct LlhttpRunner {
  llhttp_t parser;
  llhttp_settings_t settings;
  std::string body;
  int messages = 0;

  static int on_body(llhttp_t* p, const char* at, size_t n) {
    static_cast<LlhttpRunner*>(p->data)->body.append(at, n);
    return 0;
  }
  static int on_message_complete(llhttp_t* p) {
    auto* self = static_cast<LlhttpRunner*>(p->data);
    ++self->messages;
    self->body.clear();
    return 0;
  }
  LlhttpRunner() {
    llhttp_settings_init(&settings);
    settings.on_body = on_body;
    settings.on_message_complete = on_message_complete;
    llhttp_init(&parser, HTTP_REQUEST, &settings);
    parser.data = this;
  }
  int run(const std::string& input) {
    messages = 0;
    llhttp_errno_t err = llhttp_execute(&parser, input.data(), input.size());
    if (err != HPE_OK) {
      std::fprintf(stderr, "llhttp error %s: %s\n", llhttp_errno_name(err), llhttp_get_error_reason(&parser));
      std::exit(1);
    }
    return messages;
  }
};

template <typename Runner>
double ns_per_request(Runner& runner, const Case& c, double min_seconds) {
  using clock = std::chrono::steady_clock;
  if (runner.run(c.bytes) != c.requests) {
    std::fprintf(stderr, "%s: wrong number of messages\n", c.name.c_str());
    std::exit(1);
  }
  // Calibrate so that one repetition lasts about min_seconds / 5.
  long iterations = 1;
  for (;;) {
    auto start = clock::now();
    for (long i = 0; i < iterations; ++i) runner.run(c.bytes);
    double elapsed = std::chrono::duration<double>(clock::now() - start).count();
    if (elapsed > min_seconds / 5) break;
    iterations *= 2;
  }
  double best = 1e30;
  for (int repetition = 0; repetition < 5; ++repetition) {
    auto start = clock::now();
    int sink = 0;
    for (long i = 0; i < iterations; ++i) sink += runner.run(c.bytes);
    double elapsed = std::chrono::duration<double, std::nano>(clock::now() - start).count();
    if (sink != iterations * c.requests) std::exit(1);
    best = std::min(best, elapsed / static_cast<double>(iterations * c.requests));
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  double min_seconds = argc > 1 ? std::atof(argv[1]) : 0.3;
  std::printf("| input | bytes/request | narwhal ns/request | llhttp ns/request | narwhal/llhttp |\n");
  std::printf("|---|---:|---:|---:|---:|\n");
  for (const Case& c : make_cases()) {
    NarwhalRunner narwhal;
    LlhttpRunner llhttp;
    double n = ns_per_request(narwhal, c, min_seconds);
    double l = ns_per_request(llhttp, c, min_seconds);
    std::printf("| %s | %zu | %.0f | %.0f | %.2f |\n", c.name.c_str(), c.bytes.size() / c.requests, n, l, n / l);
  }
  return 0;
}
