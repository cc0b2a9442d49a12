// Helpers for the HTTP/2 tests: a real nghttp2 *client* session (it encodes whatever it is given,
// valid or not, and checks the server's answers), frames built by hand for what no client
// sends (floods, oversized frames, CONTINUATION storms), and a pump between the two.
#pragma once

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/http2_session.h"

namespace narwhal::http::h2::testing {

using Fields = std::vector<std::pair<std::string, std::string>>;

inline constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// One frame: 9-byte header (RFC 9113 §4.1) + payload.
inline std::string frame(uint8_t type, uint8_t flags, int32_t stream_id, std::string_view payload) {
  std::string out;
  const size_t n = payload.size();
  out.push_back(static_cast<char>(n >> 16));
  out.push_back(static_cast<char>(n >> 8));
  out.push_back(static_cast<char>(n));
  out.push_back(static_cast<char>(type));
  out.push_back(static_cast<char>(flags));
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(stream_id >> shift));
  out.append(payload);
  return out;
}
inline std::string settings_frame(std::vector<std::pair<uint16_t, uint32_t>> entries = {}) {
  std::string payload;
  for (auto [id, value] : entries) {
    payload.push_back(static_cast<char>(id >> 8));
    payload.push_back(static_cast<char>(id));
    for (int shift = 24; shift >= 0; shift -= 8) payload.push_back(static_cast<char>(value >> shift));
  }
  return frame(NGHTTP2_SETTINGS, 0, 0, payload);
}
inline std::string settings_ack() { return frame(NGHTTP2_SETTINGS, NGHTTP2_FLAG_ACK, 0, ""); }
inline std::string ping_frame() { return frame(NGHTTP2_PING, 0, 0, std::string(8, 'p')); }
inline std::string rst_frame(int32_t stream_id, uint32_t code) {
  std::string payload;
  for (int shift = 24; shift >= 0; shift -= 8) payload.push_back(static_cast<char>(code >> shift));
  return frame(NGHTTP2_RST_STREAM, 0, stream_id, payload);
}
inline std::string window_update(int32_t stream_id, uint32_t increment) {
  std::string payload;
  for (int shift = 24; shift >= 0; shift -= 8) payload.push_back(static_cast<char>(increment >> shift));
  return frame(NGHTTP2_WINDOW_UPDATE, 0, stream_id, payload);
}
// The client's connection preface with an empty SETTINGS frame.
inline std::string preface() { return std::string(kPreface) + settings_frame(); }

// An HPACK encoder (nghttp2's deflater): field blocks for hand-built HEADERS frames.
class Encoder {
 public:
  Encoder() { nghttp2_hd_deflate_new(&deflater_, 4096); }
  ~Encoder() { nghttp2_hd_deflate_del(deflater_); }
  std::string block(const Fields& fields) {
    std::vector<nghttp2_nv> nv;
    for (const auto& [name, value] : fields)
      nv.push_back({(uint8_t*)name.data(), (uint8_t*)value.data(), name.size(), value.size(),
                    NGHTTP2_NV_FLAG_NONE});
    std::string out(nghttp2_hd_deflate_bound(deflater_, nv.data(), nv.size()), '\0');
    const ssize_t n = nghttp2_hd_deflate_hd(deflater_, (uint8_t*)out.data(), out.size(), nv.data(),
                                            nv.size());
    out.resize(n < 0 ? 0 : static_cast<size_t>(n));
    return out;
  }
 private:
  nghttp2_hd_deflater* deflater_ = nullptr;
};

inline Fields get(std::string path = "/", std::string authority = "example.com") {
  return {{":method", "GET"}, {":scheme", "https"}, {":authority", authority}, {":path", path}};
}

// A client: submits requests, records what the server answers per stream.
class Client {
 public:
  struct Response {
    int status = 0;
    Fields fields;
    std::string body;
    bool closed = false;
    uint32_t close_code = 0;
  };

  explicit Client(std::vector<nghttp2_settings_entry> settings = {}) {
    nghttp2_session_callbacks* callbacks;
    nghttp2_session_callbacks_new(&callbacks);
    nghttp2_session_callbacks_set_on_header_callback(callbacks, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, on_close);
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, on_frame);
    nghttp2_session_client_new(&session_, callbacks, this);
    nghttp2_session_callbacks_del(callbacks);
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings.data(), settings.size());
  }
  ~Client() { nghttp2_session_del(session_); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // end_stream: no body follows; otherwise the body comes through send_data (and trailers).
  int32_t request(const Fields& fields, bool end_stream = true) {
    std::vector<nghttp2_nv> nv;
    for (const auto& [name, value] : fields)
      nv.push_back({(uint8_t*)name.data(), (uint8_t*)value.data(), name.size(), value.size(),
                    NGHTTP2_NV_FLAG_NO_INDEX});
    if (end_stream)
      return nghttp2_submit_request(session_, nullptr, nv.data(), nv.size(), nullptr, nullptr);
    auto body = std::make_unique<Body>();
    nghttp2_data_provider provider;
    provider.source.ptr = body.get();
    provider.read_callback = read_body;
    const int32_t id =
        nghttp2_submit_request(session_, nullptr, nv.data(), nv.size(), &provider, nullptr);
    bodies_[id] = std::move(body);
    return id;
  }
  void send_data(int32_t stream_id, std::string data, bool end) {
    Body& body = *bodies_[stream_id];
    body.data.append(data);
    body.end = end;
    nghttp2_session_resume_data(session_, stream_id);
  }
  // After the request's HEADERS went out (pump first): ends the body with a trailer section.
  void trailers(int32_t stream_id, const Fields& fields) {
    std::vector<nghttp2_nv> nv;
    for (const auto& [name, value] : fields)
      nv.push_back({(uint8_t*)name.data(), (uint8_t*)value.data(), name.size(), value.size(),
                    NGHTTP2_NV_FLAG_NONE});
    Body& body = *bodies_[stream_id];
    body.end = body.trailers = true;
    nghttp2_session_resume_data(session_, stream_id);
    nghttp2_submit_trailer(session_, stream_id, nv.data(), nv.size());
  }
  void reset(int32_t stream_id, uint32_t code = NGHTTP2_CANCEL) {
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream_id, code);
  }
  std::string output() {
    std::string out;
    for (;;) {
      const uint8_t* data;
      const ssize_t n = nghttp2_session_mem_send(session_, &data);
      if (n <= 0) return out;
      out.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
    }
  }
  void feed(std::string_view bytes) {
    nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }
  nghttp2_session* session() { return session_; }

  std::map<int32_t, Response> responses;
  bool goaway = false;
  uint32_t goaway_code = 0;
  int32_t goaway_last_stream = -1;

 private:
  struct Body {
    std::string data;
    size_t offset = 0;
    bool end = false;
    bool trailers = false;
  };
  static ssize_t read_body(nghttp2_session*, int32_t, uint8_t* buffer, size_t length,
                           uint32_t* flags, nghttp2_data_source* source, void*) {
    Body& body = *static_cast<Body*>(source->ptr);
    const size_t n = std::min(length, body.data.size() - body.offset);
    std::memcpy(buffer, body.data.data() + body.offset, n);
    body.offset += n;
    if (body.offset == body.data.size()) {
      if (!body.end) return n > 0 ? static_cast<ssize_t>(n) : ssize_t{NGHTTP2_ERR_DEFERRED};
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      if (body.trailers) *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
    }
    return static_cast<ssize_t>(n);
  }
  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                       size_t name_length, const uint8_t* value, size_t value_length, uint8_t,
                       void* user_data) {
    auto& response = static_cast<Client*>(user_data)->responses[frame->hd.stream_id];
    std::string n(reinterpret_cast<const char*>(name), name_length);
    std::string v(reinterpret_cast<const char*>(value), value_length);
    if (n == ":status") response.status = std::stoi(v);
    else response.fields.emplace_back(n, v);
    return 0;
  }
  static int on_data(nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t* data,
                     size_t length, void* user_data) {
    static_cast<Client*>(user_data)->responses[stream_id].body.append(
        reinterpret_cast<const char*>(data), length);
    return 0;
  }
  static int on_close(nghttp2_session*, int32_t stream_id, uint32_t code, void* user_data) {
    auto& response = static_cast<Client*>(user_data)->responses[stream_id];
    response.closed = true;
    response.close_code = code;
    return 0;
  }
  static int on_frame(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    if (frame->hd.type == NGHTTP2_GOAWAY) {
      Client* self = static_cast<Client*>(user_data);
      self->goaway = true;
      self->goaway_code = frame->goaway.error_code;
      self->goaway_last_stream = frame->goaway.last_stream_id;
    }
    return 0;
  }

  nghttp2_session* session_ = nullptr;
  std::map<int32_t, std::unique_ptr<Body>> bodies_;
};

// Moves bytes both ways until neither side has anything to say; returns the server's events.
inline std::vector<Event> pump(Session& server, Client& client) {
  std::vector<Event> events;
  for (int round = 0; round < 1000; ++round) {
    const std::string to_server = client.output();
    if (!to_server.empty()) server.receive(to_server.data(), to_server.size());
    Event event;
    while (server.next_event(&event)) events.push_back(std::move(event));
    const std::string to_client = server.take_output();
    if (!to_client.empty()) client.feed(to_client);
    if (to_server.empty() && to_client.empty()) break;
  }
  return events;
}

inline std::string header_value(const Fields& fields, std::string_view name) {
  for (const auto& [n, v] : fields)
    if (n == name) return v;
  return "<none>";
}

}  // namespace narwhal::http::h2::testing
