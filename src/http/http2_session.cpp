// One server-side HTTP/2 connection on top of nghttp2 (RFC 9113). nghttp2 does the framing,
// HPACK, stream states, flow-control accounting and most of RFC 9113 §8's request checks; this
// file adapts its callbacks to bytes in / events + bytes out and adds what a server must decide
// itself (docs/http.md "HTTP/2"):
//  * requests become RequestHeads through RequestBuilder (narwhal's HTTP/1 policy applied too);
//    a request the session refuses is answered here (400/413/414/431/501) and never reported;
//  * body bytes are credited back to the client only as the caller consume()s them
//    (no_auto_window_update): the client's windows are the request-body backpressure;
//  * response bodies are queued per stream and framed only while the output buffer is small,
//    so a client that does not read grows nothing but nghttp2's bounded queues;
//  * a stream reset by the client before its Request event was popped is never reported
//    (rapid reset, CVE-2023-44487: the application never starts work for it);
//  * invalid field values reset the stream (nghttp2 would silently drop the field);
//  * floods of empty DATA frames end the connection (nghttp2 1.52 does not count them).
#include "http/http2_session.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <unordered_map>
#include <vector>

#include "http/http2_request.h"
#include "http/http2_response.h"
#include "http/response.h"

namespace narwhal::http::h2 {
namespace {

int64_t steady_milliseconds() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string_view as_view(nghttp2_rcbuf* buffer) {
  const nghttp2_vec vec = nghttp2_rcbuf_get_buf(buffer);
  return std::string_view(reinterpret_cast<const char*>(vec.base), vec.len);
}

nghttp2_nv make_nv(std::string_view name, std::string_view value) {
  return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                    reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(),
                    value.size(), NGHTTP2_NV_FLAG_NONE};
}

Event make_event(EventType type, int32_t stream_id) {
  Event event;
  event.type = type;
  event.stream_id = stream_id;
  return event;
}

}  // namespace

struct Stream {
  Stream(int32_t stream_id, const ParserOptions& options, uint32_t max_header_list_size)
      : id(stream_id), builder(options, max_header_list_size) {}
  int32_t id;
  RequestBuilder builder;
  bool head_done = false;  // a Request event was queued
  bool delivered = false;  // … and popped: the caller knows the stream
  bool dropped = false;    // the caller must never see it (answered or reset before delivery)
  bool rejected = false;   // answered by the session itself
  bool closed = false;     // nghttp2 closed it; a StreamClosed event is queued
  bool reset_by_peer = false;
  size_t unconsumed = 0;   // body bytes received and not consume()d
  uint64_t body_received = 0;
  // response
  bool response_submitted = false;
  bool no_body = false;
  bool end_submitted = false;
  int64_t response_length = -1;
  uint64_t response_queued = 0;  // body bytes the app gave
  std::string out;               // body bytes not yet framed
  size_t out_offset = 0;
  int64_t blocked_since = -1;
  size_t pending() const { return out.size() - out_offset; }
};

struct Session::Impl {
  explicit Impl(const SessionOptions& options);
  ~Impl() { nghttp2_session_del(session); }

  int64_t now() const { return clock ? clock() : steady_milliseconds(); }
  Stream* find(int32_t stream_id) const {
    auto it = streams.find(stream_id);
    return it == streams.end() ? nullptr : it->second.get();
  }
  void fill_output();
  void update_blocked();
  void fatal(int library_error);
  void reject(Stream& stream, int status);
  void push_data(Stream& stream, const uint8_t* data, size_t length);

  // nghttp2 callbacks (user_data is the Impl)
  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user_data);
  static int on_header(nghttp2_session*, const nghttp2_frame* frame, nghttp2_rcbuf* name,
                       nghttp2_rcbuf* value, uint8_t flags, void* user_data);
  static int on_invalid_header(nghttp2_session*, const nghttp2_frame*, nghttp2_rcbuf*,
                               nghttp2_rcbuf*, uint8_t, void*) {
    // RFC 9113 §8.2.1: a field value with CR, LF, NUL or leading/trailing whitespace makes the
    // request malformed. nghttp2 would drop the field and go on; reset the stream instead.
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user_data);
  static int on_data_chunk(nghttp2_session*, uint8_t flags, int32_t stream_id, const uint8_t* data,
                           size_t length, void* user_data);
  static int on_stream_close(nghttp2_session*, int32_t stream_id, uint32_t error_code,
                             void* user_data);
  static int on_frame_send(nghttp2_session*, const nghttp2_frame* frame, void* user_data);
  static int on_error(nghttp2_session*, int, const char* message, size_t length, void* user_data) {
    static_cast<Impl*>(user_data)->last_library_message.assign(message, length);
    return 0;
  }
  static ssize_t read_body(nghttp2_session*, int32_t stream_id, uint8_t* buffer, size_t length,
                           uint32_t* data_flags, nghttp2_data_source* source, void* user_data);

  SessionOptions options;
  std::function<int64_t()> clock;
  nghttp2_session* session = nullptr;
  std::deque<Event> events;
  std::unordered_map<int32_t, std::unique_ptr<Stream>> streams;
  size_t open = 0;  // streams nghttp2 has not closed yet
  size_t queued_total = 0;
  size_t streams_with_output = 0;
  std::string output;
  size_t output_offset = 0;
  bool dead = false;  // nghttp2 returned a fatal error: nothing more is read or framed
  bool shutting_down = false;
  uint32_t error = 0;
  std::string reason;
  std::string last_library_message;
  int64_t idle_from = 0;
  int64_t settings_from = 0;
  uint64_t resets = 0;
  size_t empty_frames = 0;
  bool flood = false;  // a callback stopped reading: GOAWAY(ENHANCE_YOUR_CALM) from receive()
};

Session::Impl::Impl(const SessionOptions& session_options)
    : options(session_options), clock(session_options.clock) {
  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback2(callbacks, on_header);
  nghttp2_session_callbacks_set_on_invalid_header_callback2(callbacks, on_invalid_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, on_stream_close);
  nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, on_frame_send);
  nghttp2_session_callbacks_set_error_callback2(callbacks, on_error);

  nghttp2_option* option = nullptr;
  nghttp2_option_new(&option);
  nghttp2_option_set_no_auto_window_update(option, 1);  // consume(): credit as the app reads
  nghttp2_option_set_no_closed_streams(option, 1);       // no priority tree to keep them for
  nghttp2_option_set_max_outbound_ack(option, options.max_outbound_ack);
  nghttp2_option_set_max_settings(option, options.max_settings);
#ifdef NARWHAL_NGHTTP2_RESET_RATE_LIMIT
  // Upstream 1.57, backported to Debian's 1.52.0-1+deb12u1 (CVE-2023-44487).
  nghttp2_option_set_stream_reset_rate_limit(option, options.reset_burst, options.reset_rate);
#endif
#ifdef NARWHAL_NGHTTP2_MAX_CONTINUATIONS
  // Upstream 1.61, backported to Debian's 1.52.0-1+deb12u2 (CVE-2024-28182).
  nghttp2_option_set_max_continuations(option, options.max_continuations);
#endif
  nghttp2_session_server_new2(&session, callbacks, this, option);
  nghttp2_option_del(option);
  nghttp2_session_callbacks_del(callbacks);

  std::vector<nghttp2_settings_entry> settings = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, options.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, options.initial_window_size},
      {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, options.max_frame_size},
      {NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, options.header_table_size},
      // RFC 9218 §2.1: RFC 7540 priorities are ignored, so no dependency tree is kept.
      {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},
  };
  if (options.max_header_list_size != 0)
    settings.push_back({NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, options.max_header_list_size});
  if (nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, settings.data(), settings.size()) != 0) {
    dead = true;  // an option out of range (the settings validators prevent it)
    error = kInternalError;
    reason = "invalid HTTP/2 settings";
  }
  const int32_t window = static_cast<int32_t>(
      std::min<uint64_t>(std::max<uint64_t>(options.connection_window_size, 65535), 0x7fffffff));
  nghttp2_session_set_local_window_size(session, NGHTTP2_FLAG_NONE, 0, window);
  idle_from = settings_from = now();
}

int Session::Impl::on_begin_headers(nghttp2_session* session, const nghttp2_frame* frame,
                                    void* user_data) {
  Impl* self = static_cast<Impl*>(user_data);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  auto stream = std::make_unique<Stream>(frame->hd.stream_id, self->options.request,
                                         self->options.max_header_list_size);
  nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, stream.get());
  self->streams[frame->hd.stream_id] = std::move(stream);
  ++self->open;
  self->idle_from = -1;
  return 0;
}

int Session::Impl::on_header(nghttp2_session* session, const nghttp2_frame* frame,
                             nghttp2_rcbuf* name, nghttp2_rcbuf* value, uint8_t, void*) {
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  auto* stream =
      static_cast<Stream*>(nghttp2_session_get_stream_user_data(session, frame->hd.stream_id));
  if (stream == nullptr) return 0;
  if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) stream->builder.add(as_view(name), as_view(value));
  else stream->builder.add_trailer(as_view(name), as_view(value));
  return 0;
}

void Session::Impl::reject(Stream& stream, int status) {
  // Answered here, headers only; the client's remaining body is refused with RST_STREAM
  // (NO_ERROR) once the answer is out (on_frame_send, RFC 9113 §8.1).
  stream.rejected = true;
  stream.dropped = true;
  if (stream.unconsumed > 0) {
    nghttp2_session_consume(session, stream.id, stream.unconsumed);
    stream.unconsumed = 0;
  }
  if (status == kMalformed) {  // RFC 9113 §8.1.1: a stream error, no response
    nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, stream.id, NGHTTP2_PROTOCOL_ERROR);
    return;
  }
  char code[4] = {static_cast<char>('0' + status / 100), static_cast<char>('0' + status / 10 % 10),
                  static_cast<char>('0' + status % 10), 0};
  const std::string_view date = http_date();
  const nghttp2_nv fields[] = {make_nv(":status", code), make_nv("content-length", "0"),
                               make_nv("date", date), make_nv("server", "narwhal")};
  nghttp2_submit_response(session, stream.id, fields, std::size(fields), nullptr);
  stream.response_submitted = stream.end_submitted = true;
}

void Session::Impl::push_data(Stream& stream, const uint8_t* data, size_t length) {
  if (length == 0) return;
  stream.unconsumed += length;
  const char* bytes = reinterpret_cast<const char*>(data);
  // Many small frames of one stream in a row make one event.
  if (!events.empty() && events.back().type == EventType::Data &&
      events.back().stream_id == stream.id) {
    events.back().data.append(bytes, length);
    return;
  }
  Event event = make_event(EventType::Data, stream.id);
  event.data.assign(bytes, length);
  events.push_back(std::move(event));
}

int Session::Impl::on_frame_recv(nghttp2_session* session, const nghttp2_frame* frame,
                                 void* user_data) {
  Impl* self = static_cast<Impl*>(user_data);
  const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  switch (frame->hd.type) {
    case NGHTTP2_HEADERS: {
      self->empty_frames = 0;
      auto* stream =
          static_cast<Stream*>(nghttp2_session_get_stream_user_data(session, frame->hd.stream_id));
      if (stream == nullptr || stream->rejected) return 0;
      if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
        if (const int status = stream->builder.finish_head()) {
          self->reject(*stream, status);
          return 0;
        }
        stream->head_done = true;
        self->events.push_back(make_event(EventType::Request, stream->id));
      } else if (stream->builder.finish_trailers() != 0) {
        stream->dropped = !stream->delivered;
        nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, stream->id, NGHTTP2_PROTOCOL_ERROR);
        return 0;
      }
      if (end_stream) self->events.push_back(make_event(EventType::EndStream, stream->id));
      return 0;
    }
    case NGHTTP2_DATA: {
      if (frame->hd.length == 0 && !end_stream) {
        // Frames that carry nothing cost work and no flow-control credit: a flood of them
        // (CVE-2019-9518 "empty frames") ends the connection.
        if (++self->empty_frames > self->options.max_empty_frames) {
          // Not nghttp2_session_terminate_session() here: called from a callback, nghttp2 1.52
          // goes on reading and fails an assertion (found by tests/fuzz/http2_fuzz.cpp). Stop
          // reading now; receive() sends the GOAWAY.
          self->flood = true;
          return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
        return 0;
      }
      self->empty_frames = 0;
      auto* stream =
          static_cast<Stream*>(nghttp2_session_get_stream_user_data(session, frame->hd.stream_id));
      if (stream != nullptr && !stream->rejected && end_stream)
        self->events.push_back(make_event(EventType::EndStream, stream->id));
      return 0;
    }
    case NGHTTP2_SETTINGS:
      if (frame->hd.flags & NGHTTP2_FLAG_ACK) self->settings_from = -1;
      return 0;
    case NGHTTP2_RST_STREAM: {
      ++self->resets;
      auto* stream =
          static_cast<Stream*>(nghttp2_session_get_stream_user_data(session, frame->hd.stream_id));
      if (stream != nullptr) stream->reset_by_peer = true;
      return 0;
    }
    case NGHTTP2_GOAWAY: {
      Event event = make_event(EventType::GoAway, 0);
      event.error_code = frame->goaway.error_code;
      event.last_stream_id = frame->goaway.last_stream_id;
      self->events.push_back(std::move(event));
      return 0;
    }
    default: return 0;
  }
}

int Session::Impl::on_data_chunk(nghttp2_session* session, uint8_t, int32_t stream_id,
                                 const uint8_t* data, size_t length, void* user_data) {
  Impl* self = static_cast<Impl*>(user_data);
  auto* stream = static_cast<Stream*>(nghttp2_session_get_stream_user_data(session, stream_id));
  if (stream == nullptr || stream->dropped || !stream->head_done) {
    nghttp2_session_consume(session, stream_id, length);  // nobody will read it
    return 0;
  }
  stream->body_received += length;
  const uint64_t limit = self->options.request.limits.body;
  if (limit != 0 && stream->body_received > limit) {
    nghttp2_session_consume(session, stream_id, length);
    if (!stream->delivered) {
      self->reject(*stream, 413);  // the app has not seen it: answer like HTTP/1 would
    } else {
      // The app is reading the body: end the stream; it sees StreamClosed(CANCEL).
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_CANCEL);
    }
    return 0;
  }
  self->push_data(*stream, data, length);
  return 0;
}

int Session::Impl::on_stream_close(nghttp2_session* session, int32_t stream_id,
                                   uint32_t error_code, void* user_data) {
  Impl* self = static_cast<Impl*>(user_data);
  auto it = self->streams.find(stream_id);
  if (it == self->streams.end()) return 0;
  Stream& stream = *it->second;
  if (stream.unconsumed > 0) {
    // Its body will never be read: give the connection window back (the stream's is gone).
    nghttp2_session_consume_connection(session, stream.unconsumed);
    stream.unconsumed = 0;
  }
  self->queued_total -= stream.pending();
  if (stream.pending() > 0) --self->streams_with_output;
  stream.out.clear();
  stream.out_offset = 0;
  stream.closed = true;
  if (--self->open == 0) self->idle_from = self->now();
  if (!stream.delivered || stream.dropped) {
    // The caller never saw it (refused, reset before the Request event was popped): its
    // queued events are skipped by next_event.
    self->streams.erase(it);
    return 0;
  }
  Event event = make_event(EventType::StreamClosed, stream_id);
  event.error_code = error_code;
  event.by_peer = stream.reset_by_peer;
  self->events.push_back(std::move(event));
  return 0;
}

int Session::Impl::on_frame_send(nghttp2_session* session, const nghttp2_frame* frame,
                                  void* user_data) {
  Impl* self = static_cast<Impl*>(user_data);
  if (frame->hd.type == NGHTTP2_GOAWAY && frame->goaway.error_code != NGHTTP2_NO_ERROR &&
      self->error == 0) {
    self->error = frame->goaway.error_code;
    if (self->reason.empty())
      self->reason = self->last_library_message.empty() ? "connection error"
                                                        : self->last_library_message;
    return 0;
  }
  if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
      (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
      nghttp2_session_get_stream_remote_close(session, frame->hd.stream_id) == 0) {
    // RFC 9113 §8.1: the response is complete and the request is not: ask the client to stop
    // sending it, without error — unless its whole Content-Length has arrived and only the
    // END_STREAM flag is still on its way (clients such as httpcore send it in a frame of its
    // own, and some treat a reset there as an error).
    const Stream* stream = self->find(frame->hd.stream_id);
    const RequestHead* head = stream ? &stream->builder.request().head : nullptr;
    const bool body_complete = head && head->has_content_length && stream->body_received >= head->content_length;
    if (!body_complete) {
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_NO_ERROR);
    }
  }
  return 0;
}

ssize_t Session::Impl::read_body(nghttp2_session*, int32_t, uint8_t* buffer, size_t length,
                                 uint32_t* data_flags, nghttp2_data_source* source,
                                 void* user_data) {
  Impl* self = static_cast<Impl*>(user_data);
  Stream& stream = *static_cast<Stream*>(source->ptr);
  const size_t n = std::min(length, stream.pending());
  if (n > 0) {
    std::memcpy(buffer, stream.out.data() + stream.out_offset, n);
    stream.out_offset += n;
    self->queued_total -= n;
    if (stream.pending() == 0) {
      stream.out.clear();
      stream.out_offset = 0;
      --self->streams_with_output;
    }
  }
  if (stream.pending() == 0) {
    if (stream.end_submitted) *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    else if (n == 0) return NGHTTP2_ERR_DEFERRED;  // submit_data resumes it
  }
  return static_cast<ssize_t>(n);
}

void Session::Impl::fatal(int library_error) {
  dead = true;
  if (error == 0) {
    error = library_error == NGHTTP2_ERR_BAD_CLIENT_MAGIC ? kProtocolError : kEnhanceYourCalm;
    if (library_error == NGHTTP2_ERR_CALLBACK_FAILURE || library_error == NGHTTP2_ERR_NOMEM)
      error = kInternalError;
    reason = nghttp2_strerror(library_error);
  }
}

void Session::Impl::fill_output() {
  while (!dead && output.size() - output_offset < options.output_chunk) {
    const uint8_t* data = nullptr;
    const ssize_t n = nghttp2_session_mem_send(session, &data);
    if (n < 0) {
      fatal(static_cast<int>(n));
      break;
    }
    if (n == 0) break;
    output.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
  }
  update_blocked();
}

void Session::Impl::update_blocked() {
  if (streams_with_output == 0 && queued_total == 0) {
    for (auto& [id, stream] : streams) stream->blocked_since = -1;
    return;
  }
  const int32_t connection_window = nghttp2_session_get_remote_window_size(session);
  for (auto& [id, stream] : streams) {
    bool blocked = false;
    if (!stream->closed && stream->pending() > 0) {
      const int32_t window = nghttp2_session_get_stream_remote_window_size(session, id);
      blocked = window <= 0 || connection_window <= 0;
    }
    if (!blocked) stream->blocked_since = -1;
    else if (stream->blocked_since < 0) stream->blocked_since = now();
  }
}

Session::Session(const SessionOptions& options) : impl_(std::make_unique<Impl>(options)) {}
Session::~Session() = default;

bool Session::receive(const char* data, size_t length) {
  Impl& s = *impl_;
  if (s.dead || s.error != 0) return false;
  const ssize_t n =
      nghttp2_session_mem_recv(s.session, reinterpret_cast<const uint8_t*>(data), length);
  if (n == NGHTTP2_ERR_CALLBACK_FAILURE && s.flood) {
    // Our own flood check stopped nghttp2 mid-input; the sending side is intact.
    s.reason = "flood of empty DATA frames";
    s.error = kEnhanceYourCalm;
    nghttp2_session_terminate_session(s.session, NGHTTP2_ENHANCE_YOUR_CALM);
    s.fill_output();
    s.dead = true;  // nothing more is read or framed after that GOAWAY
    return false;
  }
  if (n < 0) {
    // Not even a GOAWAY can be trusted to go out (bad preface, flood of unread ACKs,
    // CONTINUATION flood): the caller closes.
    s.fatal(static_cast<int>(n));
    return false;
  }
  s.fill_output();  // frames the GOAWAY of a connection error, so error() is set now
  return !s.dead && s.error == 0;
}

bool Session::next_event(Event* event) {
  Impl& s = *impl_;
  while (!s.events.empty()) {
    Event& front = s.events.front();
    if (front.type != EventType::GoAway) {
      auto it = s.streams.find(front.stream_id);
      if (it == s.streams.end() || it->second->dropped) {
        // A stream the caller must not see (rapid reset, refused after the event was queued).
        if (it != s.streams.end() && front.type == EventType::StreamClosed) s.streams.erase(it);
        s.events.pop_front();
        continue;
      }
      if (front.type == EventType::Request) it->second->delivered = true;
      if (front.type == EventType::StreamClosed) {
        *event = std::move(front);
        s.events.pop_front();
        s.streams.erase(it);
        return true;
      }
    }
    *event = std::move(front);
    s.events.pop_front();
    return true;
  }
  return false;
}

size_t Session::pending_events() const { return impl_->events.size(); }

const Request* Session::request(int32_t stream_id) const {
  const Stream* stream = impl_->find(stream_id);
  if (stream == nullptr || !stream->head_done || stream->dropped) return nullptr;
  return &stream->builder.request();
}

void Session::consume(int32_t stream_id, size_t length) {
  Impl& s = *impl_;
  Stream* stream = s.find(stream_id);
  if (stream == nullptr || s.dead) return;
  length = std::min(length, stream->unconsumed);  // never credit what was not received
  if (length == 0) return;
  stream->unconsumed -= length;
  if (stream->closed) nghttp2_session_consume_connection(s.session, length);
  else nghttp2_session_consume(s.session, stream_id, length);
}

const char* Session::submit_response(int32_t stream_id, std::string_view status,
                                     std::span<const ResponseField> fields, bool end_stream) {
  Impl& s = *impl_;
  Stream* stream = s.find(stream_id);
  if (stream == nullptr || !stream->delivered || stream->closed) return "stream closed";
  if (stream->response_submitted) return "response already started";
  ResponseHead head;
  if (const char* error = build_response_head(status, fields, stream->builder.head_method(), &head))
    return error;
  if (end_stream && !head.no_body && head.content_length > 0)
    return "Content-Length larger than the body";
  std::vector<nghttp2_nv> nv;
  nv.reserve(head.fields.size());
  for (const ResponseField& field : head.fields) nv.push_back(make_nv(field.name, field.value));
  stream->response_submitted = true;
  stream->no_body = head.no_body;
  stream->response_length = head.content_length;
  int rv;
  if (end_stream || head.no_body) {
    stream->end_submitted = true;
    rv = nghttp2_submit_response(s.session, stream_id, nv.data(), nv.size(), nullptr);
  } else {
    nghttp2_data_provider provider;
    provider.source.ptr = stream;
    provider.read_callback = Impl::read_body;
    rv = nghttp2_submit_response(s.session, stream_id, nv.data(), nv.size(), &provider);
  }
  return rv == 0 ? nullptr : nghttp2_strerror(rv);
}

const char* Session::submit_data(int32_t stream_id, std::string_view bytes, bool end) {
  Impl& s = *impl_;
  Stream* stream = s.find(stream_id);
  if (stream == nullptr || stream->closed) return "stream closed";
  if (!stream->response_submitted) return "no response head";
  if (stream->no_body) return nullptr;  // HEAD, 204, 304: the body is dropped
  if (stream->end_submitted) return "response already ended";
  const uint64_t total = stream->response_queued + bytes.size();
  if (stream->response_length >= 0 &&
      (total > static_cast<uint64_t>(stream->response_length) ||
       (end && total < static_cast<uint64_t>(stream->response_length)))) {
    // The client would see a body that contradicts its Content-Length (RFC 9113 §8.1.1).
    nghttp2_submit_rst_stream(s.session, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_INTERNAL_ERROR);
    return total > static_cast<uint64_t>(stream->response_length)
               ? "more body than Content-Length"
               : "less body than Content-Length";
  }
  if (!bytes.empty()) {
    if (stream->pending() == 0) ++s.streams_with_output;
    stream->out.append(bytes);
    s.queued_total += bytes.size();
  }
  stream->response_queued = total;
  stream->end_submitted = end;
  nghttp2_session_resume_data(s.session, stream_id);
  return nullptr;
}

void Session::reset_stream(int32_t stream_id, uint32_t error_code) {
  Impl& s = *impl_;
  if (s.dead) return;
  nghttp2_submit_rst_stream(s.session, NGHTTP2_FLAG_NONE, stream_id, error_code);
}

size_t Session::stream_pending(int32_t stream_id) const {
  const Stream* stream = impl_->find(stream_id);
  return stream == nullptr ? 0 : stream->pending();
}

size_t Session::pending_bytes() const {
  return impl_->queued_total + (impl_->output.size() - impl_->output_offset);
}

int64_t Session::blocked_since(int32_t stream_id) const {
  const Stream* stream = impl_->find(stream_id);
  return stream == nullptr ? -1 : stream->blocked_since;
}

std::string_view Session::pending_output() {
  Impl& s = *impl_;
  s.fill_output();
  return std::string_view(s.output).substr(s.output_offset);
}

void Session::discard_output(size_t length) {
  Impl& s = *impl_;
  s.output_offset = std::min(s.output.size(), s.output_offset + length);
  if (s.output_offset == s.output.size()) {
    s.output.clear();
    s.output_offset = 0;
  } else if (s.output_offset > s.options.output_chunk) {
    s.output.erase(0, s.output_offset);
    s.output_offset = 0;
  }
}

std::string Session::take_output() {
  std::string all;
  for (;;) {
    const std::string_view chunk = pending_output();
    if (chunk.empty()) return all;
    all.append(chunk);
    discard_output(chunk.size());
  }
}

bool Session::want_read() const {
  return !impl_->dead && impl_->error == 0 && nghttp2_session_want_read(impl_->session) != 0;
}

bool Session::want_write() const {
  return impl_->output.size() > impl_->output_offset ||
         (!impl_->dead && nghttp2_session_want_write(impl_->session) != 0);
}

bool Session::finished() const {
  const bool idle_output = impl_->output.size() == impl_->output_offset;
  if (impl_->dead) return idle_output;
  return idle_output && nghttp2_session_want_read(impl_->session) == 0 &&
         nghttp2_session_want_write(impl_->session) == 0;
}

void Session::shutdown() {
  Impl& s = *impl_;
  if (s.dead || s.shutting_down) return;
  s.shutting_down = true;
  // RFC 9113 §6.8: the last stream we will process; later ones were never seen.
  nghttp2_submit_goaway(s.session, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(s.session), NGHTTP2_NO_ERROR,
                        nullptr, 0);
}

void Session::terminate(uint32_t error_code) {
  Impl& s = *impl_;
  if (s.dead) return;
  if (s.reason.empty()) s.reason = "terminated by the server";
  nghttp2_session_terminate_session(s.session, error_code);
  if (error_code != kNoError && s.error == 0) s.error = error_code;
}

int64_t Session::idle_since() const { return impl_->open == 0 ? impl_->idle_from : -1; }
int64_t Session::settings_pending_since() const { return impl_->settings_from; }
size_t Session::open_streams() const { return impl_->open; }
uint32_t Session::error_code() const { return impl_->error; }
std::string_view Session::error_reason() const { return impl_->reason; }
uint64_t Session::resets_received() const { return impl_->resets; }

}  // namespace narwhal::http::h2
