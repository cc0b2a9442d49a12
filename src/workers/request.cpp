#include "workers/request.h"

#include <sys/socket.h>

#include <cstdio>

#include "base/clock.h"
#include "http/chars.h"
#include "log/logger.h"
#include "workers/queue_time.h"
#include "wsgi/tls_peer.h"

namespace narwhal::workers {
// The head a request is served with: the parser's, or for forwarder_headers
// (wsgi::Peer::filter_underscore_names) a copy without the '_' names the list does not allow.
// Null when such a name is refused (header_map refuse): the 400 is queued, the connection closes.
const http::RequestHead* RequestRunner::request_head(Connection& connection) {
  const http::RequestHead& parsed = connection.parser.head();
  if (!connection.peer->filter_underscore_names) return &parsed;
  switch (app_.environ.forwarded_head(parsed, *connection.peer, &forwarded_head_)) {
    case wsgi::ForwarderVerdict::Unchanged:
      return &parsed;
    case wsgi::ForwarderVerdict::Filtered:
      return &forwarded_head_;
    case wsgi::ForwarderVerdict::Refused:
      break;
  }
  connection.output.push_copy(wsgi::error_response(400, "'_' in field name"));
  return nullptr;
}

bool RequestRunner::run(Connection& connection, ReadBuffer& input, const RunSettings& settings) {
  const bool access_logged = log::logger().access_enabled();
  const int64_t started_us = clock::monotonic_us();
  started_ms_.store(started_us / 1000, std::memory_order_relaxed);
  if (!connection.peer) {
    connection.peer = app_.environ.make_peer(connection.address.host, connection.address.port, connection.server->host,
                           connection.server->port, is_unix_socket(connection),
                           connection.proxied ? &*connection.proxied : nullptr);
    if (connection.tls) connection.peer->tls_socket = wsgi::tls_peer_socket(connection.tls->peer_info());
    else if (connection.tls_peer) connection.peer->tls_socket = wsgi::tls_peer_socket(*connection.tls_peer);
    connection.peer->http2 = connection.via_http2;
  }
  const http::RequestHead* head = request_head(connection);
  if (!head) {
    started_ms_.store(0, std::memory_order_relaxed);
    return false;
  }
  // The scoreboard: a few relaxed stores now and at the end, no syscall (workers/scoreboard.h).
  Scoreboard* scoreboard = options_.scoreboard;
  note_queue_time(connection, *head, scoreboard);
  if (scoreboard) {
    scoreboard->in_flight.fetch_add(1, std::memory_order_relaxed);
    if (slot_) {
      begin_request(slot_, started_us, head->method, head->target, connection.address.host, connection.address.port);
    }
  }

  wsgi::ExchangeOptions exchange_options;
  exchange_options.read_timeout_ms = options_.body_timeout_ms;
  exchange_options.write_timeout_ms = options_.write_timeout_ms;
  // No request waits on its client beyond `timeout` (issue 10, item 2).
  exchange_options.deadline_ms = started_us / 1000 + static_cast<int64_t>(options_.timeout_s) * 1000;
  exchange_options.heartbeat = settings.heartbeat;
  exchange_options.waiter = settings.waiter;
  exchange_options.output = &connection.output;
  exchange_options.output_buffer = options_.body_buffer_size;
  exchange_options.drain_limit = options_.body_buffer_size;
  exchange_options.stop_requested = settings.stop_requested;
  exchange_options.head_storage = &head_buffer_;
  if (slot_) {
    exchange_options.bytes_read_progress = &slot_->bytes_read;
    exchange_options.bytes_written_progress = &slot_->bytes_written;
  }
  // Not on this stack: under gevent another greenlet (the app's "thread") may call into the
  // exchange through wsgi.input while this greenlet's stack is swapped out.
  wsgi::Exchange& exchange = exchange_.emplace(connection.transport(), connection.parser, input, exchange_options);
  struct Reset {
    std::optional<wsgi::Exchange>& exchange;
    ~Reset() { exchange.reset(); }
  } reset{exchange_};
  if (head != &connection.parser.head()) exchange.use_head(head);
  if (connection.body_file) {
    exchange.preload_body_file(std::move(connection.body_file));
  } else {
    exchange.preload_body(connection.body, connection.body_complete);
  }
  wsgi::Framing framing;
  framing.keep_alive = settings.keep_alive;
  exchange.set_framing(framing);

  const WorkerHooks& hooks = options_.hooks;
  py::Ref request;  // the pre_request hook's req, handed to post_request (per request)
  if (hooks.pre_request) request = hooks.pre_request(exchange.head());
  const bool python_access = static_cast<bool>(hooks.access);
  const bool response_headers_logged =
      python_access || (access_logged && log::logger().access_format().uses_response_headers());
  wsgi::RequestResult result = wsgi::handle_request(app_, exchange, *connection.peer,
                                                    python_access || static_cast<bool>(hooks.post_request),
                                                    response_headers_logged);
  if (hooks.post_request) hooks.post_request(exchange.head(), request, result.environ.get(), result.status);
  started_ms_.store(0, std::memory_order_relaxed);
  const int64_t done_us = clock::monotonic_us();
  log::logger().request_metrics(result.status, done_us - started_us);
  if (scoreboard) {
    if (slot_) end_request(slot_);
    count_request(scoreboard->counters, exchange.head().method, result.status, done_us - started_us);
    scoreboard->in_flight.fetch_sub(1, std::memory_order_relaxed);
  }
  if (python_access) {
    AccessEntry entry;
    entry.head = &exchange.head();
    entry.remote_addr = connection.peer->remote_text;
    entry.status = result.status;
    entry.body_bytes = result.body_bytes;
    entry.duration_us = done_us - started_us;
    entry.queue_us = connection.queue_us;
    entry.environ = result.environ.get();
    entry.response_headers = result.response_headers.get();
    hooks.access(entry);
  } else if (access_logged) {
    access_log(connection, exchange.head(), result.status, result.body_bytes, done_us - started_us,
               result.response_headers.get());
  }
  connection.body_complete = exchange.body_complete();
  // A WSGI app cannot take over the socket: after 101 Switching Protocols or a 2xx to CONNECT
  // the bytes that follow are not HTTP, so the connection ends with the response (issue 10,
  // item 6; gunicorn closes too).
  const bool tunnel = result.status == 101 || (exchange.head().method == "CONNECT" && result.status / 100 == 2);
  return result.keep_alive && !tunnel;
}

void RequestRunner::access_log(const Connection& connection, const http::RequestHead& head, int status,
                               uint64_t body_bytes, int64_t duration_us, PyObject* response_headers) {
  // {name}o: the headers the app gave start_response (views into its str objects, GIL held).
  access_response_headers_.clear();
  if (response_headers && PyList_Check(response_headers)) {
    for (Py_ssize_t i = 0, n = PyList_GET_SIZE(response_headers); i < n; ++i) {
      PyObject* item = PyList_GET_ITEM(response_headers, i);
      if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2) continue;
      Py_ssize_t name_size = 0, value_size = 0;
      const char* name = PyUnicode_Check(PyTuple_GET_ITEM(item, 0)) ? PyUnicode_AsUTF8AndSize(PyTuple_GET_ITEM(item, 0), &name_size) : nullptr;
      const char* value = PyUnicode_Check(PyTuple_GET_ITEM(item, 1)) ? PyUnicode_AsUTF8AndSize(PyTuple_GET_ITEM(item, 1), &value_size) : nullptr;
      if (!name || !value) {
        PyErr_Clear();
        continue;
      }
      access_response_headers_.emplace_back(std::string_view(name, static_cast<size_t>(name_size)),
                                            http::chars::trim_ows(std::string_view(value, static_cast<size_t>(value_size))));
    }
  }
  write_access_log(connection, head, status, body_bytes, duration_us, access_response_headers_);
}

void RequestRunner::write_access_log(const Connection& connection, const http::RequestHead& head, int status,
                                     uint64_t body_bytes, int64_t duration_us,
                                     const log::HeaderList& response_headers) {
  access_headers_.clear();
  for (const http::Header& header : head.headers) access_headers_.emplace_back(header.name, header.value);
  http::TargetParts target = http::split_target(head.target);
  access_path_.clear();
  http::percent_decode(target.path, access_path_);  // U is PATH_INFO, decoded (gunicorn)
  char status_text[8];
  snprintf(status_text, sizeof status_text, "%d", status);
  char protocol[16];
  snprintf(protocol, sizeof protocol, "HTTP/%d.%d", head.version_major, head.version_minor);
  log::AccessRecord record;
  record.remote_addr = connection.peer->remote_text;
  record.method = head.method;
  record.target = head.target;
  record.path = access_path_;
  record.query = target.query;
  record.protocol = protocol;
  record.status = status_text;
  record.response_length = static_cast<int64_t>(body_bytes);
  record.duration_us = duration_us;
  record.queue_us = connection.queue_us;
  record.request_headers = &access_headers_;
  record.response_headers = &response_headers;
  log::logger().access(record);
}

}  // namespace narwhal::workers
