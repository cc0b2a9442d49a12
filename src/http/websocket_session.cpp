// One server-side WebSocket connection on top of wslay's event API (RFC 6455, RFC 7692).
// wslay does the framing: unmasking, fragment reassembly with control frames in between,
// opcode/RSV/mask checks, UTF-8 of uncompressed text and close reasons, close-code validity,
// automatic pongs and the close handshake. narwhal adds what wslay 1.1.1 does not do or does
// without a status code (docs/http.md "WebSocket"):
//  * FrameScanner: header-level violations wslay's frame layer answers with an empty close, and
//    the close frame, which narwhal handles itself (wslay's check of its reason depends on how
//    the bytes were split);
//  * the message-size limit over whole messages (wslay checks single frames when not buffering);
//  * permessage-deflate (inflate streamed chunk by chunk, UTF-8 of the inflated text).
// wslay's recv callback reads from the bytes given to feed(); its send callback appends to
// output(). Every call that queues something in wslay flushes it at once, so wslay's queue is
// always empty between calls and data frames can be written straight into output() in order.
#include <wslay/wslay.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <new>

#include "http/permessage_deflate.h"
#include "http/utf8.h"
#include "http/websocket_frame_scanner.h"
#include "http/websocket.h"

namespace narwhal::http::ws {
namespace {

constexpr int kProtocolError = 1002;      // RFC 6455 §7.4.1
constexpr int kInvalidPayload = 1007;     // not UTF-8 in a text message; corrupt deflate data
constexpr int kMessageTooBig = 1009;
constexpr uint64_t kMaxReserve = 1u << 20;  // never reserve more at once on a peer's word

// Codes a close frame may carry (RFC 6455 §7.4.1, §7.4.2; 1012–1014 from the IANA registry).
// 1004–1006 and 1015 are reserved or MUST NOT be sent (§7.4.1).
bool is_valid_close_code(int code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

}  // namespace

struct Session::Impl {
  explicit Impl(const SessionOptions& options);
  ~Impl() { wslay_event_context_free(context); }

  void fail(int code);
  void flush() { wslay_event_send(context); }
  bool sending_allowed() const { return !failed && wslay_event_get_write_enabled(context); }
  void write_data_frame(uint8_t opcode, bool compressed, std::string_view payload);

  void frame_started(const wslay_event_on_frame_recv_start_arg& arg);
  void frame_chunk(const uint8_t* data, size_t length);
  void message_received(const wslay_event_on_msg_recv_arg& arg);
  void close_frame_received(std::string_view frame);
  bool inflate_result(PerMessageDeflate::Result result, size_t inflated_from);

  // wslay's callbacks (user_data is the Impl).
  static ssize_t on_recv(wslay_event_context_ptr context, uint8_t* buffer, size_t length, int,
                         void* user_data) {
    Impl* s = static_cast<Impl*>(user_data);
    if (s->input_left == 0) {
      wslay_event_set_error(context, WSLAY_ERR_WOULDBLOCK);
      return -1;
    }
    const size_t n = std::min(length, s->input_left);
    std::memcpy(buffer, s->input, n);
    s->input += n;
    s->input_left -= n;
    return static_cast<ssize_t>(n);
  }
  static ssize_t on_send(wslay_event_context_ptr, const uint8_t* data, size_t length, int,
                         void* user_data) {
    static_cast<Impl*>(user_data)->output.append(reinterpret_cast<const char*>(data), length);
    return static_cast<ssize_t>(length);
  }
  static void on_frame_start(wslay_event_context_ptr,
                             const wslay_event_on_frame_recv_start_arg* arg, void* user_data) {
    static_cast<Impl*>(user_data)->frame_started(*arg);
  }
  static void on_frame_chunk(wslay_event_context_ptr,
                             const wslay_event_on_frame_recv_chunk_arg* arg, void* user_data) {
    static_cast<Impl*>(user_data)->frame_chunk(arg->data, arg->data_length);
  }
  static void on_message(wslay_event_context_ptr, const wslay_event_on_msg_recv_arg* arg,
                         void* user_data) {
    static_cast<Impl*>(user_data)->message_received(*arg);
  }

  size_t limit;            // of a message's decompressed size
  uint64_t wire_limit;     // of a message's payload bytes on the wire
  wslay_event_context_ptr context = nullptr;
  std::string output;
  std::vector<Event> events;  // [next_event, size) are pending; cleared (capacity kept) when empty
  size_t next_event = 0;
  const uint8_t* input = nullptr;  // what wslay's recv callback reads from
  size_t input_left = 0;
  FrameScanner scanner;

  bool frame_is_control = false;  // the frame being received is a control frame
  bool message_text = false;
  bool message_compressed = false;
  uint64_t message_wire_bytes = 0;
  std::string message;  // the data message being received (inflated when compressed)
  Utf8Validator message_utf8;  // of compressed text only: wslay checks uncompressed text
  std::unique_ptr<PerMessageDeflate> deflate;
  std::string compressed;  // scratch for outgoing compressed payloads (capacity reused)

  bool failed = false;
  int error_code = 0;
  bool close_received = false;
};

Session::Impl::Impl(const SessionOptions& options)
    : limit(options.max_message_size ? options.max_message_size : SIZE_MAX) {
  // A compressed message may be a little longer than its content (stored blocks: 5 bytes per
  // 64 KiB), so its wire bytes get some slack; the inflated size is held to `limit`.
  wire_limit = limit;
  if (options.deflate && limit != SIZE_MAX) wire_limit = uint64_t(limit) + limit / 16 + 64;
  if (options.deflate) deflate = std::make_unique<PerMessageDeflate>(options.deflate_params);
  const wslay_event_callbacks callbacks = {on_recv,        on_send,        nullptr, on_frame_start,
                                           on_frame_chunk, nullptr,        on_message};
  if (wslay_event_context_server_init(&context, &callbacks, this) != 0) throw std::bad_alloc();
  // Data frames are not buffered by wslay: their chunks go straight into `message` (one copy).
  wslay_event_config_set_no_buffering(context, 1);
  // Per frame (wslay cannot see whole messages without buffering): → 1009.
  wslay_event_config_set_max_recv_msg_length(context, wire_limit);
  // RFC 7692 §6: RSV1 marks a compressed message; without the extension it is a 1002.
  wslay_event_config_set_allowed_rsv_bits(context, options.deflate ? WSLAY_RSV1_BIT : WSLAY_RSV_NONE);
}

void Session::Impl::fail(int code) {
  failed = true;
  error_code = code;
  // Refused (WSLAY_ERR_NO_MORE_MSG) when our close was already sent: nothing more to say.
  wslay_event_queue_close(context, static_cast<uint16_t>(code), nullptr, 0);
  wslay_event_shutdown_read(context);
}

void Session::Impl::frame_started(const wslay_event_on_frame_recv_start_arg& arg) {
  if (failed) return;
  frame_is_control = wslay_is_ctrl_frame(arg.opcode);
  if (frame_is_control) return;  // wslay buffers control frames and hands them to on_message
  if (arg.opcode != WSLAY_CONTINUATION_FRAME) {  // wslay has checked the fragment sequence
    message_text = arg.opcode == WSLAY_TEXT_FRAME;
    message_compressed = wslay_get_rsv1(arg.rsv) != 0;
    message.clear();
    message_wire_bytes = 0;
    message_utf8.reset();
  }
  message_wire_bytes += arg.payload_length;
  if (message_wire_bytes > wire_limit || message_wire_bytes < arg.payload_length) {
    fail(kMessageTooBig);
    return;
  }
  if (!message_compressed)
    message.reserve(message.size() + std::min<uint64_t>(arg.payload_length, kMaxReserve));
}

// The inflated bytes are checked first, then the limit, then the stream: each check then fires
// at the same byte of the message however the input was split (one inflate call may produce
// many bytes, or stop at a corrupt code, where byte-by-byte input produces a few at a time).
bool Session::Impl::inflate_result(PerMessageDeflate::Result result, size_t inflated_from) {
  if (message_text &&
      !message_utf8.feed(message.data() + inflated_from, message.size() - inflated_from)) {
    fail(kInvalidPayload);
    return false;
  }
  if (result == PerMessageDeflate::Result::TooBig) {
    fail(kMessageTooBig);
    return false;
  }
  // RFC 7692 has no code for undecodable data; it is payload inconsistent with the message
  // type, as RFC 6455 §7.4.1 describes 1007.
  if (result == PerMessageDeflate::Result::Corrupt) {
    fail(kInvalidPayload);
    return false;
  }
  return true;
}

void Session::Impl::frame_chunk(const uint8_t* data, size_t length) {
  if (failed || frame_is_control || length == 0) return;
  if (!message_compressed) {
    message.append(reinterpret_cast<const char*>(data), length);
    return;
  }
  const size_t before = message.size();
  inflate_result(deflate->inflate(data, length, &message, limit), before);
}

void Session::Impl::message_received(const wslay_event_on_msg_recv_arg& arg) {
  if (failed) return;
  switch (arg.opcode) {
    case WSLAY_TEXT_FRAME:
    case WSLAY_BINARY_FRAME: {
      if (message_compressed) {
        // RFC 7692 §7.2.1: a compressed payload holds at least a block header; an empty one
        // would leave the inflater inside a stored block, misreading every later message.
        if (message_wire_bytes == 0) return fail(kInvalidPayload);
        const size_t before = message.size();
        if (!inflate_result(deflate->finish_message(&message, limit), before)) return;
        if (message_text && !message_utf8.complete()) {  // RFC 6455 §8.1
          fail(kInvalidPayload);
          return;
        }
      }
      Event& event = events.emplace_back();
      event.type = message_text ? EventType::Text : EventType::Binary;
      event.data = std::move(message);
      message = std::string();
      break;
    }
    case WSLAY_PING:
      // wslay queued the pong. Sent now, so that a close or a failure later in the same input
      // (wslay drops queued control frames once a close is queued) does not swallow it: the
      // output does not depend on how the input was split.
      flush();
      break;
    default:  // pong
      break;
  }
}

// The peer's close frame (RFC 6455 §5.5.1), collected by the scanner: ≤ 125 payload bytes.
void Session::Impl::close_frame_received(std::string_view frame) {
  const auto b0 = static_cast<uint8_t>(frame[0]), b1 = static_cast<uint8_t>(frame[1]);
  // §5.1: client frames are masked; §5.2: RSV bits without an extension defining them (RFC 7692
  // defines RSV1 for data frames only, §6.1).
  if (!(b1 & 0x80) || (b0 & 0x70)) return fail(kProtocolError);
  std::string payload(frame.substr(6));
  for (size_t i = 0; i < payload.size(); ++i) payload[i] ^= frame[2 + i % 4];
  Event event;
  event.type = EventType::Close;
  event.code = 1005;  // §7.1.5: a close without a code
  if (!payload.empty()) {
    event.code = (static_cast<uint8_t>(payload[0]) << 8) | static_cast<uint8_t>(payload[1]);
    if (!is_valid_close_code(event.code)) return fail(kProtocolError);  // §7.4
    event.reason = payload.substr(2);
    if (!is_valid_utf8(event.reason.data(), event.reason.size())) return fail(kInvalidPayload);
  }
  close_received = true;
  wslay_event_shutdown_read(context);
  // §5.5.1: answer with a close echoing the code (not the reason, which is the peer's text).
  // Refused by wslay when our close already went out: then the handshake is complete.
  wslay_event_queue_close(context, payload.empty() ? 0 : static_cast<uint16_t>(event.code),
                          nullptr, 0);
  events.push_back(std::move(event));
}

void Session::Impl::write_data_frame(uint8_t opcode, bool compressed, std::string_view payload) {
  // RFC 6455 §5.2; a server never masks (§5.1). One frame per message.
  char header[10];
  size_t n = 0;
  header[n++] = static_cast<char>(0x80 | (compressed ? 0x40 : 0) | opcode);
  const uint64_t length = payload.size();
  if (length < 126) {
    header[n++] = static_cast<char>(length);
  } else if (length <= 0xffff) {
    header[n++] = 126;
    for (int shift = 8; shift >= 0; shift -= 8) header[n++] = static_cast<char>(length >> shift);
  } else {
    header[n++] = 127;
    for (int shift = 56; shift >= 0; shift -= 8) header[n++] = static_cast<char>(length >> shift);
  }
  output.reserve(output.size() + n + payload.size());
  output.append(header, n);
  output.append(payload);
}

Session::Session(const SessionOptions& options) : impl_(std::make_unique<Impl>(options)) {}
Session::~Session() = default;

bool Session::feed(const char* data, size_t length) {
  Impl& s = *impl_;
  if (s.failed) return false;
  if (s.close_received) return true;  // RFC 6455 §5.5.1: nothing follows a close
  const FrameScanner::Result scanned =
      s.scanner.scan(reinterpret_cast<const uint8_t*>(data), length);
  s.input = reinterpret_cast<const uint8_t*>(data);
  s.input_left = scanned.to_wslay;
  const bool close_was_sent = wslay_event_get_close_sent(s.context) != 0;
  const int rc = wslay_event_recv(s.context);
  s.input = nullptr;
  s.input_left = 0;
  // wslay found a violation itself when it stopped reading.
  const bool wslay_failed = !s.failed && (rc != 0 || !wslay_event_get_read_enabled(s.context));
  s.flush();
  if (wslay_failed) {
    s.failed = true;
    // The code wslay put in its close frame; when our own close had gone out before, wslay
    // could not send one and does not say which rule broke: reported as 1002.
    const bool sent_now = !close_was_sent && wslay_event_get_close_sent(s.context);
    const int sent = sent_now ? wslay_event_get_status_code_sent(s.context) : 0;
    s.error_code = sent_now && sent != 1005 ? sent : kProtocolError;
  } else if (!s.failed && scanned.violation) {
    s.fail(kProtocolError);
    s.flush();
  } else if (!s.failed && scanned.close_complete) {
    s.close_frame_received(s.scanner.close_frame());
    s.flush();
  }
  return !s.failed;
}

size_t Session::pending_events() const { return impl_->events.size() - impl_->next_event; }

bool Session::next_event(Event* out) {
  Impl& s = *impl_;
  if (s.next_event == s.events.size()) return false;
  *out = std::move(s.events[s.next_event++]);
  if (s.next_event == s.events.size()) {
    s.events.clear();
    s.next_event = 0;
  }
  return true;
}

void Session::send_message(bool text, std::string_view payload) {
  Impl& s = *impl_;
  if (!s.sending_allowed()) return;
  const uint8_t opcode = text ? WSLAY_TEXT_FRAME : WSLAY_BINARY_FRAME;
  if (s.deflate && s.deflate->compress(payload, &s.compressed)) {
    s.write_data_frame(opcode, true, s.compressed);
    return;
  }
  s.write_data_frame(opcode, false, payload);
}

void Session::send_close(int code, std::string_view reason) {
  Impl& s = *impl_;
  if (!s.sending_allowed()) return;
  if (!is_valid_close_code(code)) {
    wslay_event_queue_close(s.context, 0, nullptr, 0);
  } else {
    // §5.5: control payload ≤ 125 = 2 code bytes + 123; the reason must stay UTF-8 (§5.5.1).
    if (reason.size() > 123) {
      size_t cut = 123;
      while (cut > 0 && (static_cast<uint8_t>(reason[cut]) & 0xC0) == 0x80) --cut;
      reason = reason.substr(0, cut);
    }
    if (!is_valid_utf8(reason.data(), reason.size())) reason = {};
    wslay_event_queue_close(s.context, static_cast<uint16_t>(code),
                            reinterpret_cast<const uint8_t*>(reason.data()), reason.size());
  }
  s.flush();
}

void Session::send_ping(std::string_view payload) {
  Impl& s = *impl_;
  if (!s.sending_allowed()) return;
  const wslay_event_msg message = {WSLAY_PING, reinterpret_cast<const uint8_t*>(payload.data()),
                                   std::min<size_t>(payload.size(), 125)};
  wslay_event_queue_msg(s.context, &message);
  s.flush();
}

std::string& Session::output() { return impl_->output; }
bool Session::close_sent() const { return wslay_event_get_close_sent(impl_->context) != 0; }
bool Session::close_received() const { return impl_->close_received; }
bool Session::failed() const { return impl_->failed; }
int Session::error_code() const { return impl_->error_code; }

}  // namespace narwhal::http::ws
