// List, address and system validators (bind, raw_env, forwarded_allow_ips, user, group, chdir).
#include <arpa/inet.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <vector>

#include "config/validators.h"

namespace narwhal::config {
namespace {

bool all_digits(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// gunicorn's validate_list_string: None or "" -> [], "x" -> ["x"], list -> each stripped.
std::optional<StringList> to_string_list(const Value& raw) {
  if (std::holds_alternative<std::monostate>(raw)) return StringList{};
  if (const auto* text = std::get_if<std::string>(&raw)) {
    if (text->empty()) return StringList{};
    return StringList{strip(*text)};
  }
  if (const auto* list = std::get_if<StringList>(&raw)) {
    StringList out;
    for (const auto& item : *list) out.push_back(strip(item));
    return out;
  }
  return std::nullopt;
}

// gunicorn's validate_string_to_list ("a, b" -> ["a", "b"]); a list is accepted item by item.
std::optional<StringList> to_comma_list(const Value& raw) {
  StringList pieces;
  if (std::holds_alternative<std::monostate>(raw)) return pieces;
  if (const auto* text = std::get_if<std::string>(&raw)) {
    size_t start = 0;
    while (start <= text->size()) {
      size_t comma = text->find(',', start);
      if (comma == std::string::npos) comma = text->size();
      std::string piece = strip(std::string_view(*text).substr(start, comma - start));
      if (!piece.empty()) pieces.push_back(piece);
      start = comma + 1;
    }
    return pieces;
  }
  if (const auto* list = std::get_if<StringList>(&raw)) {
    for (const auto& item : *list) {
      if (std::string piece = strip(item); !piece.empty()) pieces.push_back(piece);
    }
    return pieces;
  }
  return std::nullopt;
}

bool is_ip_address(const std::string& text) {
  unsigned char buffer[16];
  return inet_pton(AF_INET, text.c_str(), buffer) == 1 || inet_pton(AF_INET6, text.c_str(), buffer) == 1;
}

bool is_ip_or_network(const std::string& text) {
  size_t slash = text.find('/');
  if (slash == std::string::npos) return is_ip_address(text);
  std::string address = text.substr(0, slash);
  std::string prefix = text.substr(slash + 1);
  if (!all_digits(prefix) || prefix.size() > 3 || !is_ip_address(address)) return false;
  int bits = std::stoi(prefix);
  return bits <= (address.find(':') == std::string::npos ? 32 : 128);
}

bool path_exists(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0;
}

// os.path.abspath(os.path.normpath(os.path.join(cwd, path))), lexically.
std::string absolute_path(const std::string& path) {
  std::string joined = path;
  if (path.empty() || path[0] != '/') {
    std::vector<char> buffer(4096);
    if (::getcwd(buffer.data(), buffer.size()) == nullptr) return path;
    joined = std::string(buffer.data()) + "/" + path;
  }
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= joined.size()) {
    size_t slash = joined.find('/', start);
    if (slash == std::string::npos) slash = joined.size();
    std::string part = joined.substr(start, slash - start);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    start = slash + 1;
  }
  std::string out;
  for (const auto& part : parts) out += "/" + part;
  return out.empty() ? "/" : out;
}

using ItemCheck = bool (*)(const std::string&);

Validator list_validator(std::string form, ItemCheck check) {
  return [form, check](const Setting&, const Value& raw, Value& out) -> std::optional<std::string> {
    auto list = to_string_list(raw);
    if (!list) return form;
    for (const auto& item : *list) {
      if (check && !check(item)) return form;
    }
    out = std::move(*list);
    return std::nullopt;
  };
}

bool has_port_syntax(std::string_view port) {
  return all_digits(port) && port.size() <= 5 && std::stoi(std::string(port)) <= 65535;
}

}  // namespace

std::optional<std::string> check_bind_address(std::string_view address) {
  const char* form = "HOST, HOST:PORT, [IPV6]:PORT, unix:PATH or fd://FD";
  if (address.rfind("unix:", 0) == 0) {
    std::string_view path = address.substr(5);
    if (path.rfind("//", 0) == 0) path.remove_prefix(2);
    return path.empty() ? std::optional<std::string>(form) : std::nullopt;
  }
  if (address.rfind("fd://", 0) == 0) {
    return all_digits(address.substr(5)) ? std::nullopt : std::optional<std::string>(form);
  }
  if (address.rfind("tcp://", 0) == 0) address.remove_prefix(6);
  if (address.empty()) return std::nullopt;  // gunicorn: "" means 0.0.0.0:8000
  if (address[0] == '[') {
    size_t close = address.find(']');
    if (close == std::string_view::npos || close == 1) return form;
    std::string_view rest = address.substr(close + 1);
    if (rest.empty()) return std::nullopt;
    if (rest[0] != ':' || !has_port_syntax(rest.substr(1))) return form;
    return std::nullopt;
  }
  size_t colon = address.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  if (address.find(':', colon + 1) != std::string_view::npos) return form;  // IPv6 needs [ ]
  if (!has_port_syntax(address.substr(colon + 1))) return form;
  return std::nullopt;
}

Validator validate_list_string() { return list_validator("a string or a list of strings", nullptr); }

Validator validate_bind_list() {
  return list_validator("a list of HOST, HOST:PORT, [IPV6]:PORT, unix:PATH or fd://FD",
                        [](const std::string& item) { return !check_bind_address(item).has_value(); });
}

Validator validate_raw_env() {
  return list_validator("a list of KEY=VALUE strings", [](const std::string& item) {
    size_t equals = item.find('=');
    return equals != std::string::npos && equals > 0;
  });
}

size_t find_unescaped_equals(std::string_view text) {
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '=' && (i == 0 || text[i - 1] != '\\')) return i;
  }
  return std::string_view::npos;
}

Validator validate_paste_global_conf() {
  return list_validator("a list of KEY=VALUE strings (a literal = written \\=)", [](const std::string& item) {
    return find_unescaped_equals(item) != std::string_view::npos;
  });
}

Validator validate_existing_files() {
  return list_validator("a list of existing files", [](const std::string& item) { return path_exists(item); });
}

Validator validate_comma_list() {
  return [](const Setting&, const Value& raw, Value& out) -> std::optional<std::string> {
    auto list = to_comma_list(raw);
    if (!list) return "a comma-separated string or a list of strings";
    out = std::move(*list);
    return std::nullopt;
  };
}

Validator validate_address_list() {
  return [](const Setting&, const Value& raw, Value& out) -> std::optional<std::string> {
    const char* form = "a comma-separated list of IP addresses or networks, or '*'";
    auto list = to_comma_list(raw);
    if (!list) return form;
    for (const auto& item : *list) {
      if (item != "*" && !is_ip_or_network(item)) return form;
    }
    out = std::move(*list);
    return std::nullopt;
  };
}

namespace {

// gunicorn's validate_user / validate_group: None = the effective id, a number, or a name
// looked up with `lookup` (getpwnam_r / getgrnam_r).
using NameLookup = std::optional<int64_t> (*)(const std::string& name);

Validator validate_account(const char* form, int64_t (*effective_id)(), NameLookup lookup) {
  return [=](const Setting&, const Value& raw, Value& out) -> std::optional<std::string> {
    if (std::holds_alternative<std::monostate>(raw)) {
      out = effective_id();
      return std::nullopt;
    }
    if (const auto* integer = std::get_if<int64_t>(&raw)) {
      out = *integer;
      return std::nullopt;
    }
    const auto* text = std::get_if<std::string>(&raw);
    if (!text) return form;
    std::optional<int64_t> id = all_digits(*text) ? parse_int_decimal(*text) : lookup(*text);
    if (!id) return form;
    out = *id;
    return std::nullopt;
  };
}

std::optional<int64_t> user_id(const std::string& name) {
  std::vector<char> buffer(16384);
  struct passwd entry {};
  struct passwd* found = nullptr;
  if (::getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 || !found) return std::nullopt;
  return static_cast<int64_t>(found->pw_uid);
}

std::optional<int64_t> group_id(const std::string& name) {
  std::vector<char> buffer(16384);
  struct group entry {};
  struct group* found = nullptr;
  if (::getgrnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 || !found) return std::nullopt;
  return static_cast<int64_t>(found->gr_gid);
}

}  // namespace

Validator validate_user() {
  return validate_account("a user name or a numeric uid", [] { return static_cast<int64_t>(::geteuid()); },
                          user_id);
}

Validator validate_group() {
  return validate_account("a group name or a numeric gid", [] { return static_cast<int64_t>(::getegid()); },
                          group_id);
}

Validator validate_chdir() {
  return [](const Setting&, const Value& raw, Value& out) -> std::optional<std::string> {
    const auto* text = std::get_if<std::string>(&raw);
    if (!text) return "an existing directory";
    std::string path = absolute_path(strip(*text));
    if (!path_exists(path)) return "an existing directory";
    out = path;
    return std::nullopt;
  };
}

Validator validate_statsd_address() {
  return [](const Setting&, const Value& raw, Value& out) -> std::optional<std::string> {
    const char* form = "HOST:PORT, HOST or unix://PATH";
    if (std::holds_alternative<std::monostate>(raw)) {
      out = raw;
      return std::nullopt;
    }
    const auto* text = std::get_if<std::string>(&raw);
    if (!text) return form;
    std::string address = strip(*text);
    // unix:PORT is a host named "unix" (gunicorn keeps this backwards-compatible reading).
    bool unix_port = address.rfind("unix:", 0) == 0 && all_digits(std::string_view(address).substr(5));
    if (!unix_port && (address.empty() || check_bind_address(address) ||
                       address.rfind("fd://", 0) == 0 || address.rfind("tcp://", 0) == 0)) {
      return form;
    }
    out = address;
    return std::nullopt;
  };
}

}  // namespace narwhal::config
