// HTTP/2 connections on the engine (docs/http2.md). The codec (src/http/http2_session.h) turns
// the client's frames into requests; each stream then becomes an ordinary HTTP/1.1 exchange on an
// internal connection — one end of a socketpair that the engine serves like any accepted client,
// so every worker type (sync, gthread, gevent, asgi) runs HTTP/2 requests with its own policy,
// deadlines, limits, access log and backpressure, unchanged. The bridge writes the stream's
// request into the pair (body as DATA arrives, flow control given back as it is taken) and turns
// the HTTP/1.1 response read back into HEADERS and DATA (read only while the stream's frames
// are not piling up).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "http/chunked_decoder.h"
#include "http/http2_session.h"
#include "workers/connection.h"

namespace narwhal::workers {

class Engine;

// Something other than a connection that the engine's epoll set watches (a stream's end of its
// socketpair): the engine calls on_event from its loop.
class EventHandler {
 public:
  virtual ~EventHandler() = default;
  virtual void on_event(uint32_t events) = 0;
};

class Http2Connection {
 public:
  Http2Connection(Engine& engine, Connection& client, const http::h2::SessionOptions& options);
  ~Http2Connection();
  Http2Connection(const Http2Connection&) = delete;
  Http2Connection& operator=(const Http2Connection&) = delete;

  // Bytes already read from the client (the preface, after TLS or prior knowledge).
  void start(std::string_view received);
  void on_client_event(uint32_t events);
  void expire(int64_t now_ms);
  void shutdown();  // graceful stop: GOAWAY, in-flight streams finish
  void abandon();   // the client connection closed: every stream's pair closes too

 private:
  struct Stream;
  void read_client();
  void handle_events();
  void flush_client();
  void open_stream(int32_t id);
  void stream_event(Stream& stream, uint32_t events);
  void write_request(Stream& stream);
  void read_response(Stream& stream);
  bool parse_response(Stream& stream);  // false: the stream was reset
  void finish_stream(Stream& stream, bool reset, uint32_t code);
  void update_watch(Stream& stream);
  void resume_paused();
  void close_if_finished();

  Engine& engine_;
  Connection& client_;
  http::h2::Session session_;
  std::map<int32_t, std::unique_ptr<Stream>> streams_;
  bool closed_ = false;
};

}  // namespace narwhal::workers
