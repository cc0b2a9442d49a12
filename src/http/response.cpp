// Response heads: validation, serialisation and framing. See response.h and docs/http.md
// "Responses".
#include "http/response.h"

#include <time.h>

#include <charconv>

#include "http/chars.h"
#include "http/text.h"

namespace narwhal::http {
namespace {

void append_number(std::string& out, int64_t value) {
  char digits[24];
  const auto result = std::to_chars(digits, digits + sizeof digits, value);
  out.append(digits, result.ptr);
}

void append_field(std::string& out, std::string_view name, std::string_view value) {
  out.append(name).append(": ").append(value).append("\r\n");
}

void append_two_digits(char* out, int value) {
  out[0] = static_cast<char>('0' + value / 10);
  out[1] = static_cast<char>('0' + value % 10);
}

// RFC 9110 §7.6.1 (Connection and the fields it names), §7.8 (Upgrade), RFC 9112 §6.1
// (Transfer-Encoding), §7.4 (TE), RFC 9110 §6.6.2 (Trailer); PEP 3333 forbids an application
// to send any of them: the server owns the connection.
enum class HopByHop { No, Connection, Upgrade, Other };

HopByHop hop_by_hop(std::string_view name) {
  switch (name.size()) {  // dispatch on length first: most fields match nothing
    case 2: return equals_ignore_case(name, "te") ? HopByHop::Other : HopByHop::No;
    case 7:
      if (equals_ignore_case(name, "upgrade")) return HopByHop::Upgrade;
      return equals_ignore_case(name, "trailer") ? HopByHop::Other : HopByHop::No;
    case 8: return equals_ignore_case(name, "trailers") ? HopByHop::Other : HopByHop::No;
    case 10:
      if (equals_ignore_case(name, "connection")) return HopByHop::Connection;
      return equals_ignore_case(name, "keep-alive") ? HopByHop::Other : HopByHop::No;
    case 17: return equals_ignore_case(name, "transfer-encoding") ? HopByHop::Other : HopByHop::No;
    case 18: return equals_ignore_case(name, "proxy-authenticate") ? HopByHop::Other : HopByHop::No;
    case 19: return equals_ignore_case(name, "proxy-authorization") ? HopByHop::Other : HopByHop::No;
    default: return HopByHop::No;
  }
}

}  // namespace

bool is_hop_by_hop_field(std::string_view name) { return hop_by_hop(name) != HopByHop::No; }

std::string_view reason_phrase(int status) {
  switch (status) {
    // RFC 9110 §15.2 - §15.6, with the other codes of the IANA HTTP Status Code Registry.
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 102: return "Processing";   // RFC 2518
    case 103: return "Early Hints";  // RFC 8297
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 207: return "Multi-Status";      // RFC 4918
    case 208: return "Already Reported";  // RFC 5842
    case 226: return "IM Used";           // RFC 3229
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 305: return "Use Proxy";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 423: return "Locked";             // RFC 4918
    case 424: return "Failed Dependency";  // RFC 4918
    case 425: return "Too Early";          // RFC 8470
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";            // RFC 6585
    case 429: return "Too Many Requests";                // RFC 6585
    case 431: return "Request Header Fields Too Large";  // RFC 6585
    case 451: return "Unavailable For Legal Reasons";    // RFC 7725
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 506: return "Variant Also Negotiates";          // RFC 2295
    case 507: return "Insufficient Storage";             // RFC 4918
    case 508: return "Loop Detected";                    // RFC 5842
    case 511: return "Network Authentication Required";  // RFC 6585
    default: return {};  // 306 and 418 are "(Unused)" (RFC 9110 §15.4.7, §15.5.19)
  }
}

std::string_view http_date() {
  // IMF-fixdate = day-name "," SP date1 SP time-of-day SP GMT. The names are spelled out rather
  // than taken from strftime so that a locale set by the application cannot change them.
  static constexpr char kDays[] = "SunMonTueWedThuFriSat";
  static constexpr char kMonths[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
  static thread_local time_t cached_second = -1;
  static thread_local char buffer[29];  // "Sun, 06 Nov 1994 08:49:37 GMT"
  const time_t now = time(nullptr);
  if (now != cached_second) {
    struct tm utc;
    gmtime_r(&now, &utc);
    char* p = buffer;
    p[0] = kDays[utc.tm_wday * 3], p[1] = kDays[utc.tm_wday * 3 + 1], p[2] = kDays[utc.tm_wday * 3 + 2];
    p[3] = ',', p[4] = ' ';
    append_two_digits(p + 5, utc.tm_mday);
    p[7] = ' ';
    p[8] = kMonths[utc.tm_mon * 3], p[9] = kMonths[utc.tm_mon * 3 + 1], p[10] = kMonths[utc.tm_mon * 3 + 2];
    p[11] = ' ';
    const int year = utc.tm_year + 1900;  // 4 digits until the year 9999
    append_two_digits(p + 12, year / 100 % 100);
    append_two_digits(p + 14, year % 100);
    p[16] = ' ';
    append_two_digits(p + 17, utc.tm_hour);
    p[19] = ':';
    append_two_digits(p + 20, utc.tm_min);
    p[22] = ':';
    append_two_digits(p + 23, utc.tm_sec);
    p[25] = ' ', p[26] = 'G', p[27] = 'M', p[28] = 'T';
    cached_second = now;
  }
  return std::string_view(buffer, sizeof buffer);
}

std::string error_response(int status, std::string_view detail) {
  std::string_view reason = reason_phrase(status);
  if (reason.empty()) reason = "Error";
  std::string body(reason);
  if (!detail.empty()) body.append(": ").append(detail);
  body.push_back('\n');
  std::string response = "HTTP/1.1 ";
  append_number(response, status);
  response.append(" ").append(reason).append(
      "\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ");
  append_number(response, static_cast<int64_t>(body.size()));
  response.append("\r\nServer: narwhal\r\n\r\n").append(body);
  return response;
}

// ---- validation ----

const char* check_status(std::string_view status, int* code) {
  auto digit = [&](size_t i) { return status[i] >= '0' && status[i] <= '9'; };
  // RFC 9112 §4: status-code = 3DIGIT, then SP and the reason phrase. A bare "200" is
  // accepted (and sent as given), as gunicorn does.
  if (status.size() < 3 || !digit(0) || !digit(1) || !digit(2) || (status.size() > 3 && status[3] != ' '))
    return "expected 'NNN Reason'";
  // RFC 9112 §4: reason-phrase = 1*( HTAB / SP / VCHAR / obs-text ): no control characters.
  if (!chars::all_of(chars::kFieldValue, status.substr(3))) return "control character in the status";
  const int value = (status[0] - '0') * 100 + (status[1] - '0') * 10 + (status[2] - '0');
  // RFC 9110 §15: a status code is 100..599 (the first digit is the class).
  if (value < 100) return "status code below 100";
  // RFC 9110 §15.2: 1xx responses are interim; PEP 3333 gives the application no way to send
  // one before its final response, so a 1xx from start_response() would be taken by the
  // client as interim and the real response would never come. 101 Switching Protocols is
  // final for this connection: it is sent, and the connection is closed after it.
  if (value < 200 && value != 101) return "an interim (1xx) status cannot be the final response";
  *code = value;
  return nullptr;
}

const char* check_field(std::string_view name, std::string_view value) {
  if (!is_token(name)) return "invalid header name";  // RFC 9110 §5.1: field-name = token
  // RFC 9110 §5.5: field values are VCHAR, obs-text, SP and HTAB; CR, LF and NUL would split or
  // end the field (response splitting) and the other control characters are refused too.
  if (!chars::all_of(chars::kFieldValue, value)) return "control character in the header value";
  return nullptr;
}

int64_t parse_content_length(std::string_view value) {
  if (value.empty() || value.size() > 18) return -1;  // 18 digits cannot overflow int64
  int64_t parsed = 0;
  for (char c : value) {
    if (c < '0' || c > '9') return -1;
    parsed = parsed * 10 + (c - '0');
  }
  return parsed;
}

const char* ResponseFieldCheck::add(std::string_view name, std::string_view value) {
  last_duplicate_ = false;
  value = chars::trim_ows(value);  // what is sent (ResponseHeadBuilder::field)
  if (const char* error = check_field(name, value)) return error;
  if (name.size() == 14 && equals_ignore_case(name, "content-length")) {
    const int64_t length = parse_content_length(value);
    if (length < 0) return "invalid Content-Length";  // RFC 9110 §8.6: 1*DIGIT
    if (content_length_ >= 0) {
      // RFC 9110 §8.6: identical values may be collapsed into one; different ones leave the
      // message length undetermined.
      if (length != content_length_) return "several Content-Length headers with different values";
      last_duplicate_ = true;
    }
    content_length_ = length;
  }
  return nullptr;
}

// ---- serialisation ----

const char* ResponseHeadBuilder::fail(const char* reason) {
  out_.clear();
  return reason;
}

const char* ResponseHeadBuilder::status(std::string_view status) {
  out_.clear();
  if (const char* error = check_status(status, &code_)) return fail(error);
  out_.append("HTTP/1.1 ").append(status).append("\r\n");
  return nullptr;
}

const char* ResponseHeadBuilder::field(std::string_view name, std::string_view value) {
  // RFC 9110 §5.5: a field value has no leading or trailing whitespace (gunicorn strips it too:
  // Django's "Set-Cookie:  csrftoken=…" goes out with one space).
  value = chars::trim_ows(value);
  if (const char* error = check_.add(name, value)) return fail(error);
  if (check_.last_was_duplicate()) return nullptr;  // collapsed into the first
  switch (hop_by_hop(name)) {
    case HopByHop::No: break;
    case HopByHop::Connection:
      if (contains_token(value, "close")) app_close_ = true;
      if (code_ == 101) break;  // RFC 9110 §7.8: "Connection: upgrade" goes with the 101
      return nullptr;
    case HopByHop::Upgrade:
      if (code_ == 101) break;  // the protocol switched to
      return nullptr;
    case HopByHop::Other: return nullptr;
  }
  if (name.size() == 6 && equals_ignore_case(name, "server")) has_server_ = true;
  else if (name.size() == 4 && equals_ignore_case(name, "date")) has_date_ = true;
  append_field(out_, name, value);
  return nullptr;
}

ResponseFraming ResponseHeadBuilder::finish(int64_t known_length) {
  ResponseFraming framing;
  const int code = code_;
  // RFC 9110 §9.3.2 (HEAD), §15.2 (1xx), §15.3.5 (204), §15.4.5 (304): no content.
  framing.no_body = request_.head_method || code < 200 || code == 204 || code == 304;
  // RFC 9110 §15.2.2: after a 101 the connection speaks another protocol, which narwhal does
  // not serve: it is closed.
  framing.keep_alive = request_.keep_alive && !app_close_ && code != 101;
  framing.content_length = check_.content_length();
  if (framing.content_length < 0 && known_length >= 0 && code >= 200 && code != 204 && code != 304) {
    // The server knows the length (even for HEAD: the same head as for GET, RFC 9110 §9.3.2).
    framing.content_length = known_length;
    out_.append("Content-Length: ");
    append_number(out_, known_length);
    out_.append("\r\n");
  } else if (framing.content_length < 0 && !framing.no_body) {
    if (request_.version_major == 1 && request_.version_minor >= 1) {
      framing.chunked = true;  // RFC 9112 §7.1
      out_.append("Transfer-Encoding: chunked\r\n");
    } else {
      framing.keep_alive = false;  // RFC 9112 §6.3: HTTP/1.0, the body ends when the connection closes
    }
  }
  if (code == 101) {
    // The app's Connection (upgrade) was kept; the connection closes after the switch.
  } else if (!framing.keep_alive) {
    out_.append("Connection: close\r\n");  // RFC 9112 §9.6
  } else if (request_.version_minor == 0) {
    out_.append("Connection: keep-alive\r\n");  // RFC 9112 §9.3: HTTP/1.0 persistence is opt-in
  }
  if (!has_date_) out_.append("Date: ").append(http_date()).append("\r\n");  // RFC 9110 §6.6.1
  if (!has_server_) out_.append("Server: narwhal\r\n");
  out_.append("\r\n");
  return framing;
}

}  // namespace narwhal::http
