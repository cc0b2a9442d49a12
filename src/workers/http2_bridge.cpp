#include "workers/http2_bridge.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/io.h"
#include "http/text.h"
#include "log/logger.h"
#include "workers/engine.h"

namespace narwhal::workers {
namespace {

constexpr size_t kReadChunk = 64 * 1024;
// A stream's response is read from its pair only while fewer bytes than this wait to be framed:
// beyond, the app's writes wait in the pair's socket buffer (and then in the app's exchange).
constexpr size_t kStreamBacklog = 256 * 1024;
// Request body bytes buffered for a pair that does not take them: the client's flow-control
// window is reopened only below this.
constexpr size_t kRequestBacklog = 64 * 1024;
constexpr size_t kMaxResponseHead = 1 << 20;

bool ieq(std::string_view a, std::string_view b) { return a.size() == b.size() && http::equals_ignore_case(a, b); }

}  // namespace

struct Http2Connection::Stream final : EventHandler {
  Http2Connection* owner = nullptr;
  int32_t id = 0;
  UniqueFd end;         // ours; the engine serves the other
  bool dead = false;    // dropped: events still queued for it are ignored
  uint32_t watching = 0;
  bool registered = false;
  // request → pair
  bool head_written = false;  // the HTTP/1.1 head is built at the first DATA or END_STREAM
  bool chunked = false;
  bool request_ended = false;
  std::string to_inner;
  size_t owed = 0;  // body bytes received and not yet given back as window
  // pair → response
  enum class Part { Head, Body, Done } part = Part::Head;
  enum class Framing { None, Length, Chunked, Close } framing = Framing::None;
  bool head_request = false;
  uint64_t remaining = 0;
  std::string from_inner;
  http::ChunkedDecoder chunks;
  bool paused = false;
  bool eof = false;

  void on_event(uint32_t events) override {
    if (!dead) owner->stream_event(*this, events);
  }
};

Http2Connection::Http2Connection(Engine& engine, Connection& client, const http::h2::SessionOptions& options)
    : engine_(engine), client_(client), session_(options) {}

// Destroyed after an event batch (the engine's graveyard): no event can name a stream any more.
Http2Connection::~Http2Connection() {
  for (auto& [id, stream] : streams_) stream->dead = true;
}

void Http2Connection::abandon() {
  closed_ = true;
  for (auto& [id, stream] : streams_) {
    stream->dead = true;
    stream->end.reset();  // leaves the epoll set; the inner connection sees its peer gone
    // Events of this batch may still name it: destroyed after the batch.
    engine_.defer_delete(std::move(stream));
  }
  streams_.clear();
}

void Http2Connection::start(std::string_view received) {
  if (!received.empty() && !session_.receive(received.data(), received.size())) {
    log::logger().debug("HTTP/2 connection error from " + client_.address.host + ": " +
                        std::string(session_.error_reason()));
  }
  handle_events();
  flush_client();
  close_if_finished();
  if (!closed_) read_client();  // TLS may hold more already
}

void Http2Connection::on_client_event(uint32_t events) {
  if (closed_) return;
  if (events & (net::EventLoop::kWritable | net::EventLoop::kError)) flush_client();
  if (!closed_ && (events & (net::EventLoop::kReadable | net::EventLoop::kHangup | net::EventLoop::kError))) read_client();
}

void Http2Connection::read_client() {
  static thread_local std::string buffer(kReadChunk, '\0');
  const net::Transport transport = client_.transport();
  for (int reads = 0; reads < 16 && !closed_; ++reads) {
    ssize_t n = transport.read(buffer.data(), buffer.size());
    if (n == io::kWouldBlock) break;
    if (n <= 0) {  // the client left: its streams' requests are abandoned
      engine_.close(client_);
      return;
    }
    if (!session_.receive(buffer.data(), static_cast<size_t>(n))) {
      log::logger().debug("HTTP/2 connection error from " + client_.address.host + ": " +
                          std::string(session_.error_reason()));
    }
    handle_events();
    if (!transport.buffered() && static_cast<size_t>(n) < buffer.size()) break;
  }
  flush_client();
  close_if_finished();
}

void Http2Connection::handle_events() {
  http::h2::Event event;
  while (!closed_ && session_.next_event(&event)) {
    auto found = streams_.find(event.stream_id);
    Stream* stream = found == streams_.end() ? nullptr : found->second.get();
    switch (event.type) {
      case http::h2::EventType::Request:
        open_stream(event.stream_id);
        break;
      case http::h2::EventType::Data:
        if (!stream) {
          session_.consume(event.stream_id, event.data.size());  // a stream we gave up: keep the window open
          break;
        }
        if (!stream->head_written) {
          stream->chunked = true;  // no Content-Length: the body goes chunked
          write_request(*stream);
        }
        if (stream->chunked) {
          char size_line[24];
          int length = std::snprintf(size_line, sizeof size_line, "%zx\r\n", event.data.size());
          stream->to_inner.append(size_line, static_cast<size_t>(length));
          stream->to_inner += event.data;
          stream->to_inner += "\r\n";
        } else {
          stream->to_inner += event.data;
        }
        stream->owed += event.data.size();
        write_request(*stream);
        break;
      case http::h2::EventType::EndStream:
        if (!stream) break;
        stream->request_ended = true;
        if (stream->head_written && stream->chunked) stream->to_inner += "0\r\n\r\n";
        write_request(*stream);
        break;
      case http::h2::EventType::StreamClosed:
        // Reset by the client (or by the session), or done: the pair closes; an app still
        // reading the body or writing the response sees its client gone.
        if (stream) finish_stream(*stream, false, 0);
        break;
      case http::h2::EventType::GoAway:
        break;
    }
  }
}

// A new stream: a socketpair whose other end the engine serves as an HTTP/1.1 connection.
void Http2Connection::open_stream(int32_t id) {
  int pair[2];
  if (!engine_.can_open_internal() ||
      ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) != 0) {
    session_.reset_stream(id, http::h2::kRefusedStream);  // the client may retry it (RFC 9113 §8.7)
    return;
  }
  auto stream = std::make_unique<Stream>();
  stream->owner = this;
  stream->id = id;
  stream->end = UniqueFd(pair[0]);
  stream->chunks.reset(0, 4096);
  const http::h2::Request* request = session_.request(id);
  stream->head_request = request && request->head.method == "HEAD";
  Stream& ref = *stream;
  streams_.emplace(id, std::move(stream));
  if (!engine_.open_internal(UniqueFd(pair[1]), client_)) {
    finish_stream(ref, true, http::h2::kRefusedStream);
    return;
  }
  update_watch(ref);
}

// The stream's HTTP/1.1 request into its pair: the head once the body's framing is known (the
// first DATA: chunked unless the client gave Content-Length; END_STREAM first: no body), then
// the body as it comes.
void Http2Connection::write_request(Stream& stream) {
  if (!stream.head_written && (stream.chunked || stream.request_ended)) {
    const http::h2::Request* request = session_.request(stream.id);
    if (!request) {
      finish_stream(stream, true, http::h2::kInternalError);
      return;
    }
    const http::RequestHead& head = request->head;
    std::string text;
    text.reserve(256);
    text.append(head.method).append(" ").append(head.target).append(" HTTP/1.1\r\n");
    if (head.has_content_length) stream.chunked = false;
    for (const http::Header& field : head.headers) {
      // HTTP/1.1 framing is the bridge's: no Expect (there is no interim response in HTTP/2 here).
      if (ieq(field.name, "expect") || ieq(field.name, "connection") || ieq(field.name, "transfer-encoding")) continue;
      text.append(field.name).append(": ").append(field.value).append("\r\n");
    }
    if (stream.chunked) text.append("transfer-encoding: chunked\r\n");
    text.append("connection: close\r\n\r\n");
    stream.to_inner.insert(0, text);
    stream.head_written = true;
    if (stream.chunked && stream.request_ended) stream.to_inner += "0\r\n\r\n";
  }
  if (!stream.head_written) return;
  while (!stream.to_inner.empty()) {
    ssize_t n = io::write_some(stream.end.get(), stream.to_inner.data(), stream.to_inner.size());
    if (n == io::kWouldBlock) break;
    if (n < 0) {  // the inner connection is gone (it answered and closed): drop the rest
      stream.to_inner.clear();
      break;
    }
    stream.to_inner.erase(0, static_cast<size_t>(n));
  }
  if (stream.owed > 0 && stream.to_inner.size() < kRequestBacklog) {
    session_.consume(stream.id, stream.owed);  // the client may send that much more
    stream.owed = 0;
  }
  update_watch(stream);
}

void Http2Connection::stream_event(Stream& stream, uint32_t events) {
  if (closed_) return;
  if (events & net::EventLoop::kWritable) write_request(stream);
  if (!stream.dead && (events & (net::EventLoop::kReadable | net::EventLoop::kHangup | net::EventLoop::kError))) {
    read_response(stream);
  }
  flush_client();
  close_if_finished();
}

void Http2Connection::read_response(Stream& stream) {
  char buffer[kReadChunk];
  while (!stream.dead && !stream.paused) {
    ssize_t n = io::read_some(stream.end.get(), buffer, sizeof buffer);
    if (n == io::kWouldBlock) break;
    if (n <= 0) {
      stream.eof = true;
      parse_response(stream);
      return;
    }
    stream.from_inner.append(buffer, static_cast<size_t>(n));
    if (!parse_response(stream)) return;
    if (session_.stream_pending(stream.id) > kStreamBacklog) stream.paused = true;
  }
  if (!stream.dead) update_watch(stream);
}

// The inner connection's HTTP/1.1 response (narwhal's own framing) into HEADERS and DATA.
bool Http2Connection::parse_response(Stream& stream) {
  using Part = Stream::Part;
  using Framing = Stream::Framing;
  while (stream.part == Part::Head) {
    size_t end = stream.from_inner.find("\r\n\r\n");
    if (end == std::string::npos) {
      if (stream.eof || stream.from_inner.size() > kMaxResponseHead) {
        finish_stream(stream, true, http::h2::kInternalError);  // no response: the app's worker died
        return false;
      }
      return true;
    }
    std::string_view head(stream.from_inner.data(), end);
    size_t line_end = head.find("\r\n");
    std::string_view status_line = head.substr(0, line_end);
    if (status_line.size() < 12 || status_line.substr(0, 5) != "HTTP/") {
      finish_stream(stream, true, http::h2::kInternalError);
      return false;
    }
    std::string_view status = status_line.substr(9);
    if (status[0] == '1') {  // an interim response (100 Continue): not forwarded
      stream.from_inner.erase(0, end + 4);
      continue;
    }
    std::vector<http::h2::ResponseField> fields;
    bool chunked = false, has_length = false;
    uint64_t length = 0;
    std::string_view rest = line_end == std::string_view::npos ? std::string_view() : head.substr(line_end + 2);
    while (!rest.empty()) {
      size_t eol = rest.find("\r\n");
      std::string_view line = rest.substr(0, eol);
      rest = eol == std::string_view::npos ? std::string_view() : rest.substr(eol + 2);
      size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      std::string_view name = line.substr(0, colon);
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
      if (ieq(name, "transfer-encoding")) {
        chunked = true;
        continue;
      }
      if (ieq(name, "connection")) continue;
      if (ieq(name, "content-length")) {
        has_length = true;
        length = std::strtoull(std::string(value).c_str(), nullptr, 10);
      }
      fields.push_back({name, value});
    }
    const int code = (status[0] - '0') * 100 + (status[1] - '0') * 10 + (status[2] - '0');
    if (stream.head_request || code == 204 || code == 304) stream.framing = Framing::None;
    else if (chunked) stream.framing = Framing::Chunked;
    else if (has_length) stream.framing = Framing::Length;
    else stream.framing = Framing::Close;
    stream.remaining = length;
    const bool no_body = stream.framing == Framing::None || (stream.framing == Framing::Length && length == 0);
    const char* refused = session_.submit_response(stream.id, status, fields, no_body);
    stream.from_inner.erase(0, end + 4);
    if (refused) {
      log::logger().error("HTTP/2 response refused: " + std::string(refused));
      finish_stream(stream, true, http::h2::kInternalError);
      return false;
    }
    stream.part = no_body ? Part::Done : Part::Body;
  }
  if (stream.part == Part::Body) {
    std::string data;
    bool end = false;
    switch (stream.framing) {
      case Framing::Length: {
        const size_t take = static_cast<size_t>(std::min<uint64_t>(stream.remaining, stream.from_inner.size()));
        data.assign(stream.from_inner, 0, take);
        stream.from_inner.erase(0, take);
        stream.remaining -= take;
        end = stream.remaining == 0;
        break;
      }
      case Framing::Chunked: {
        size_t consumed = 0;
        http::ChunkedDecoder::Result result =
            stream.chunks.feed(stream.from_inner.data(), stream.from_inner.size(), &consumed, &data);
        stream.from_inner.erase(0, consumed);
        if (result == http::ChunkedDecoder::Result::Error) {
          finish_stream(stream, true, http::h2::kInternalError);
          return false;
        }
        end = result == http::ChunkedDecoder::Result::LastChunk;  // narwhal sends no trailers
        break;
      }
      case Framing::Close:
        data.swap(stream.from_inner);
        end = stream.eof;
        break;
      case Framing::None:
        break;
    }
    if (!data.empty() || end) {
      if (const char* refused = session_.submit_data(stream.id, data, end)) {
        log::logger().debug("HTTP/2 stream " + std::to_string(stream.id) + ": " + refused);
        finish_stream(stream, false, 0);
        return false;
      }
    }
    if (end) stream.part = Part::Done;
  }
  if (stream.part == Part::Done) {
    finish_stream(stream, false, 0);
    return false;
  }
  if (stream.eof) {  // the inner connection ended mid-response: the app's response is cut
    finish_stream(stream, true, http::h2::kInternalError);
    return false;
  }
  return true;
}

void Http2Connection::finish_stream(Stream& stream, bool reset, uint32_t code) {
  if (stream.dead) return;
  if (reset) session_.reset_stream(stream.id, code);
  if (stream.owed > 0) session_.consume(stream.id, stream.owed);
  stream.dead = true;
  stream.end.reset();
  auto found = streams_.find(stream.id);
  if (found != streams_.end()) {
    engine_.defer_delete(std::move(found->second));  // an event for it may still be in this batch
    streams_.erase(found);
  }
}

void Http2Connection::update_watch(Stream& stream) {
  if (stream.dead) return;
  uint32_t events = 0;
  if (!stream.paused && stream.part != Stream::Part::Done) events |= net::EventLoop::kReadable;
  if (!stream.to_inner.empty() && stream.head_written) events |= net::EventLoop::kWritable;
  if (events == stream.watching && stream.registered) return;
  if (events == 0) {
    if (stream.registered) engine_.unwatch_handler(stream.end.get());
    stream.registered = false;
    stream.watching = 0;
    return;
  }
  if (engine_.watch_handler(stream.end.get(), events, &stream, stream.registered) != 0) {
    finish_stream(stream, true, http::h2::kInternalError);
    return;
  }
  stream.registered = true;
  stream.watching = events;
}

void Http2Connection::resume_paused() {
  for (auto it = streams_.begin(); it != streams_.end();) {
    Stream& stream = *(it++)->second;
    if (stream.paused && session_.stream_pending(stream.id) <= kStreamBacklog / 2) {
      stream.paused = false;
      if (!stream.from_inner.empty()) parse_response(stream);
      if (!stream.dead) update_watch(stream);
    }
  }
}

void Http2Connection::flush_client() {
  if (closed_) return;
  const net::Transport transport = client_.transport();
  for (;;) {
    std::string_view output = session_.pending_output();
    if (output.empty()) break;
    ssize_t n = transport.write(output.data(), output.size());
    if (n == io::kWouldBlock) break;
    if (n < 0) {
      engine_.close(client_);
      return;
    }
    session_.discard_output(static_cast<size_t>(n));
  }
  resume_paused();
  const bool more = !session_.pending_output().empty();
  engine_.watch(&client_, net::EventLoop::kReadable | (more ? net::EventLoop::kWritable : 0u));
}

void Http2Connection::close_if_finished() {
  if (!closed_ && session_.finished() && session_.pending_output().empty()) engine_.close(client_);
}

void Http2Connection::expire(int64_t now_ms) {
  if (closed_) return;
  const WorkerOptions& options = engine_.options();
  const int64_t idle = session_.idle_since();
  if (idle >= 0 && now_ms - idle > std::max(options.keepalive_s, 1) * int64_t{1000}) {
    session_.shutdown();  // keepalive: GOAWAY, then close once it is written
  }
  const int64_t settings = session_.settings_pending_since();
  if (settings >= 0 && now_ms - settings > options.header_timeout_ms) {
    session_.terminate(http::h2::kSettingsTimeout);  // RFC 9113 §6.5.3
  }
  for (auto it = streams_.begin(); it != streams_.end();) {
    Stream& stream = *(it++)->second;
    const int64_t blocked = session_.blocked_since(stream.id);
    if (blocked >= 0 && now_ms - blocked > options.write_timeout_ms) {
      // A client that never opens its window for this stream's response (write_timeout).
      finish_stream(stream, true, http::h2::kCancel);
    }
  }
  flush_client();
  close_if_finished();
}

void Http2Connection::shutdown() {
  if (closed_) return;
  session_.shutdown();
  flush_client();
  close_if_finished();
}

}  // namespace narwhal::workers
