// Rendering a compiled access_log_format for one request (runs per request: no allocation once
// the output string and the thread's scratch string have grown to size).
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <string>

#include "http/text.h"
#include "log/access_format.h"
#include "log/time_text.h"

namespace narwhal::log {
namespace {

bool absent(std::string_view value) { return value.data() == nullptr; }

// SafeAtoms: every string atom has '"' replaced by '\"' (and nothing else escaped).
void append_escaped(std::string& out, std::string_view value) {
  std::size_t start = 0;
  for (std::size_t quote = value.find('"'); quote != std::string_view::npos;
       quote = value.find('"', start)) {
    out.append(value.substr(start, quote - start));
    out.append("\\\"");
    start = quote + 1;
  }
  out.append(value.substr(start));
}

void append_or_dash(std::string& out, std::string_view value) {
  if (absent(value)) {
    out.push_back('-');
  } else {
    append_escaped(out, value);
  }
}

void append_number(std::string& out, int64_t value) {
  char buffer[24];
  auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, result.ptr);
}

// Request/response headers as gunicorn's atoms dict sees them: the last header of a name wins.
std::string_view find_header(const HeaderList* headers, std::string_view name) {
  std::string_view found;
  if (headers == nullptr) return found;
  for (const auto& [header_name, value] : *headers) {
    if (http::equals_ignore_case(header_name, name)) found = value;
  }
  return found;
}

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Python's non-strict base64.b64decode: skips non-alphabet bytes, stops at complete padding,
// fails when data is left in an incomplete quantum.
bool base64_decode(std::string_view text, std::string* out) {
  uint32_t bits = 0;
  int bit_count = 0;
  int quad = 0;
  int pads = 0;
  for (char c : text) {
    if (c == '=') {
      if (quad >= 2 && quad + ++pads >= 4) return true;
      continue;
    }
    int value = base64_value(c);
    if (value < 0) continue;
    bits = (bits << 6) | static_cast<uint32_t>(value);
    bit_count += 6;
    if (bit_count >= 8) {
      bit_count -= 8;
      out->push_back(static_cast<char>((bits >> bit_count) & 0xFF));
    }
    quad = (quad + 1) % 4;
  }
  return quad == 0;
}

// gunicorn's Logger._get_user: the user name of "Authorization: Basic base64(user:password)".
void append_user(std::string& out, const AccessRecord& record) {
  std::string_view auth = find_header(record.request_headers, "authorization");
  if (auth.size() >= 5 && http::equals_ignore_case(auth.substr(0, 5), "basic")) {
    std::size_t space = auth.find(' ');
    if (space != std::string_view::npos) {
      thread_local std::string decoded;
      decoded.clear();
      std::string_view user;
      if (base64_decode(auth.substr(space + 1), &decoded)) {
        std::size_t colon = decoded.find(':');
        if (colon != std::string::npos) user = std::string_view(decoded).substr(0, colon);
      }
      if (!user.empty()) {
        append_escaped(out, user);
        return;
      }
    }
  }
  out.push_back('-');
}

// The CGI variables of the environ that the record can reproduce (when the caller gives no
// environ_lookup). Values are raw; the caller escapes.
bool builtin_environ(const AccessRecord& record, std::string_view name, std::string* out) {
  auto take = [out](std::string_view value) {
    if (absent(value)) return false;
    out->append(value);
    return true;
  };
  if (name == "request_method") return take(record.method);
  if (name == "raw_uri") return take(record.target);
  if (name == "path_info") return out->append(record.path), true;
  if (name == "query_string") return out->append(record.query), true;
  if (name == "script_name") return true;
  if (name == "server_protocol") return take(record.protocol);
  if (name == "remote_addr") return take(record.remote_addr);
  if (name == "content_type") return take(find_header(record.request_headers, "content-type"));
  if (name == "content_length") return take(find_header(record.request_headers, "content-length"));
  if (name.substr(0, 5) != "http_" || record.request_headers == nullptr) return false;
  // HTTP_<NAME>: '-' became '_'; repeated headers are joined with ',' (gunicorn's wsgi.py).
  std::string_view wanted = name.substr(5);
  bool found = false;
  for (const auto& [header_name, value] : *record.request_headers) {
    if (header_name.size() != wanted.size()) continue;
    bool match = true;
    for (std::size_t i = 0; i < wanted.size() && match; ++i) {
      char c = http::chars::to_lower(header_name[i]);
      match = (c == '-' ? '_' : c) == wanted[i];
    }
    if (!match || http::equals_ignore_case(header_name, "content-type") ||
        http::equals_ignore_case(header_name, "content-length")) {
      continue;
    }
    if (found) out->push_back(',');
    out->append(value);
    found = true;
  }
  return found;
}

// Python's repr() of a str: single quotes unless the text has ' and no ", backslash escapes.
std::string python_repr(std::string_view text) {
  char quote =
      (text.find('\'') != std::string_view::npos && text.find('"') == std::string_view::npos)
          ? '"'
          : '\'';
  std::string out(1, quote);
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (c == '\\' || c == quote) {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out.append("\\n");
    } else if (c == '\r') {
      out.append("\\r");
    } else if (c == '\t') {
      out.append("\\t");
    } else if (byte < 0x20 || byte == 0x7f) {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", byte);
      out.append(hex);
    } else {
      out.push_back(c);
    }
  }
  out.push_back(quote);
  return out;
}

}  // namespace

int64_t AccessFormat::number(Atom atom, const AccessRecord& record) {
  switch (atom) {
    case Atom::BytesZero: return record.response_length < 0 ? 0 : record.response_length;
    case Atom::Seconds: return record.duration_us / 1000000;
    case Atom::Millis: return record.duration_us / 1000;
    case Atom::Micros: return record.duration_us;
    case Atom::QueueMillis: return record.queue_us < 0 ? 0 : record.queue_us / 1000;
    default: return 0;
  }
}

void AccessFormat::append_string(const Piece& piece, const AccessRecord& record, std::string& out) {
  switch (piece.atom) {
    case Atom::Literal: out.append(piece.text); return;
    case Atom::RemoteAddr: append_or_dash(out, record.remote_addr); return;
    case Atom::Ident: out.push_back('-'); return;
    case Atom::User: append_user(out, record); return;
    case Atom::Time:
      append_access_time(out, record.when != 0 ? record.when : std::time(nullptr));
      return;
    case Atom::RequestLine:
      append_escaped(out, record.method);
      out.push_back(' ');
      append_escaped(out, record.target);
      out.push_back(' ');
      append_escaped(out, record.protocol);
      return;
    case Atom::Method: append_or_dash(out, record.method); return;
    case Atom::Path: append_escaped(out, record.path); return;    // PATH_INFO is always set
    case Atom::Query: append_escaped(out, record.query); return;  // QUERY_STRING is always set
    case Atom::Protocol: append_or_dash(out, record.protocol); return;
    case Atom::Status: append_or_dash(out, record.status); return;
    case Atom::BytesDash:
      if (record.response_length < 0) {
        out.push_back('-');
      } else {
        append_number(out, record.response_length);
      }
      return;
    case Atom::Referer:
      append_or_dash(out, absent(record.referer) ? find_header(record.request_headers, "referer")
                                                 : record.referer);
      return;
    case Atom::UserAgent:
      append_or_dash(out, absent(record.user_agent)
                              ? find_header(record.request_headers, "user-agent")
                              : record.user_agent);
      return;
    case Atom::BytesZero:
    case Atom::Seconds:
    case Atom::Millis:
    case Atom::Micros:
    case Atom::QueueMillis: append_number(out, number(piece.atom, record)); return;
    case Atom::DecimalSeconds: {
      // "%d.%06d" % (seconds, microseconds)
      int64_t duration = record.duration_us < 0 ? 0 : record.duration_us;
      append_number(out, duration / 1000000);
      char micros[7] = {'.'};
      int64_t fraction = duration % 1000000;
      for (int i = 6; i >= 1; --i, fraction /= 10)
        micros[i] = static_cast<char>('0' + fraction % 10);
      out.append(micros, sizeof micros);
      return;
    }
    case Atom::Pid:
      out.push_back('<');
      append_number(out, record.pid != 0 ? record.pid : ::getpid());
      out.push_back('>');
      return;
    case Atom::RequestHeader:
      append_or_dash(out, find_header(record.request_headers, piece.text));
      return;
    case Atom::ResponseHeader:
      append_or_dash(out, find_header(record.response_headers, piece.text));
      return;
    case Atom::Environ: {
      thread_local std::string value;
      value.clear();
      bool found = record.environ_lookup != nullptr
                       ? record.environ_lookup(record.environ_context, piece.text, &value)
                       : builtin_environ(record, piece.text, &value);
      if (found) {
        append_escaped(out, value);
      } else {
        out.push_back('-');
      }
      return;
    }
    case Atom::Unknown: out.push_back('-'); return;
  }
}

// The slow path: flags, width, precision and non-"s" conversions.
void AccessFormat::render_formatted(const Piece& piece, const AccessRecord& record,
                                    std::string& out) {
  if (piece.numeric_spec) {
    int64_t value = number(piece.atom, record);
    char buffer[64];
    auto print = [&](char* into, std::size_t size) {
      return piece.floating
                 ? std::snprintf(into, size, piece.c_spec.c_str(), static_cast<double>(value))
                 : std::snprintf(into, size, piece.c_spec.c_str(), static_cast<long long>(value));
    };
    int length = print(buffer, sizeof buffer);
    if (length < 0) return;
    if (static_cast<std::size_t>(length) < sizeof buffer) {
      out.append(buffer, static_cast<std::size_t>(length));
    } else {  // a very wide field
      std::size_t at = out.size();
      out.resize(at + static_cast<std::size_t>(length) + 1);
      print(out.data() + at, static_cast<std::size_t>(length) + 1);
      out.resize(at + static_cast<std::size_t>(length));
    }
    return;
  }
  thread_local std::string value;
  value.clear();
  append_string(piece, record, value);
  if (piece.conversion == 'r' || piece.conversion == 'a') {
    // repr() of an int is its digits; of a str, the quoted form.
    if (!is_numeric(piece.atom)) value = python_repr(value);
  }
  std::string_view text = value;
  if (piece.precision >= 0 && text.size() > static_cast<std::size_t>(piece.precision)) {
    text = text.substr(0, static_cast<std::size_t>(piece.precision));
  }
  std::size_t padding = 0;
  if (piece.width > 0 && text.size() < static_cast<std::size_t>(piece.width)) {
    padding = static_cast<std::size_t>(piece.width) - text.size();
  }
  if (!piece.left) out.append(padding, ' ');
  out.append(text);
  if (piece.left) out.append(padding, ' ');
}

void AccessFormat::render(const AccessRecord& record, std::string& out) const {
  for (const Piece& piece : pieces_) {
    if (piece.atom == Atom::Literal) {
      out.append(piece.text);
    } else if (piece.plain) {
      append_string(piece, record, out);
    } else {
      render_formatted(piece, record, out);
    }
  }
}

}  // namespace narwhal::log
