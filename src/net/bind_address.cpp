#include "net/bind_address.h"

#include <arpa/inet.h>

#include <cctype>
#include <charconv>

namespace narwhal::net {
namespace {

std::string quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

bool parse_number(std::string_view text, long max, long* out) {
  if (text.empty()) return false;
  long value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return false;
  if (value < 0 || value > max) return false;
  *out = value;
  return true;
}

std::string to_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

BindAddress fail(std::string* error, std::string message) {
  if (error) *error = std::move(message);
  return BindAddress{};
}

}  // namespace

bool is_ipv6_literal(std::string_view host) {
  std::string text(host);
  unsigned char buffer[sizeof(struct in6_addr)];
  return inet_pton(AF_INET6, text.c_str(), buffer) == 1;
}

std::string BindAddress::display() const {
  switch (kind) {
    case Kind::Unix:
      return path;
    case Kind::Fd:
      return std::to_string(fd);
    case Kind::Tcp:
      break;
  }
  return "('" + host + "', " + std::to_string(port) + ")";
}

BindAddress parse_bind(std::string_view text, std::string* error) {
  if (error) error->clear();
  BindAddress address;

  // gunicorn: re.match(r'unix:(//)?', netloc) -> the rest is the path.
  if (text.starts_with("unix:")) {
    std::string_view path = text.substr(5);
    if (path.starts_with("//")) path.remove_prefix(2);
    if (path.empty()) return fail(error, "unix socket path is empty in " + quoted(text));
    address.kind = BindAddress::Kind::Unix;
    address.path = std::string(path);
    return address;
  }

  if (text.starts_with("fd://")) {
    std::string_view number = text.substr(5);
    long fd = 0;
    if (!parse_number(number, 1 << 30, &fd)) {
      return fail(error, quoted(number) + " is not a valid file descriptor.");
    }
    address.kind = BindAddress::Kind::Fd;
    address.fd = static_cast<int>(fd);
    return address;
  }

  if (text.starts_with("tcp://")) text.remove_prefix(6);
  std::string_view host = text;
  std::string_view port;
  const size_t open = text.find('[');
  const size_t close = text.find(']');
  if (open != std::string_view::npos && close != std::string_view::npos) {
    // "[v6]" or "[v6]:port", as gunicorn: host between the brackets, port after "]:".
    if (open != 0 || close < open) return fail(error, quoted(text) + " is not a valid address.");
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (!rest.starts_with(":")) return fail(error, quoted(text) + " is not a valid address.");
      port = rest.substr(1);
      if (port.empty()) return fail(error, "'' is not a valid port number.");
    }
    if (!is_ipv6_literal(host)) return fail(error, quoted(host) + " is not a valid IPv6 address.");
  } else if (const size_t colon = text.find(':'); colon != std::string_view::npos) {
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    // gunicorn keeps only the first two ':'-separated fields; "a:80:x" binds a:80.
    if (const size_t extra = port.find(':'); extra != std::string_view::npos) port = port.substr(0, extra);
    if (port.empty()) return fail(error, "'' is not a valid port number.");
  } else if (text.empty()) {
    host = "0.0.0.0";
  }

  if (!port.empty()) {
    long value = 0;
    if (!parse_number(port, 65535, &value)) return fail(error, quoted(port) + " is not a valid port number.");
    address.port = static_cast<uint16_t>(value);
  }
  address.kind = BindAddress::Kind::Tcp;
  address.host = to_lower(host);
  address.ipv6 = is_ipv6_literal(address.host);
  return address;
}

}  // namespace narwhal::net
