#include "net/listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string_view>
#include <thread>

#include "base/io.h"

namespace narwhal::net {
namespace {

std::string errno_text(int error_number) { return std::strerror(error_number); }

// A socket address ready for bind(), or an error message for the configuration.
struct ResolvedAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  int family = AF_UNSPEC;
};

bool resolve(const BindAddress& address, ResolvedAddress* out, std::string* error) {
  if (address.kind == BindAddress::Kind::Unix) {
    auto* un = reinterpret_cast<sockaddr_un*>(&out->storage);
    if (address.path.size() >= sizeof(un->sun_path)) {
      *error = "unix socket path is too long: " + address.path;
      return false;
    }
    un->sun_family = AF_UNIX;
    std::memcpy(un->sun_path, address.path.c_str(), address.path.size() + 1);
    out->length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.path.size() + 1);
    out->family = AF_UNIX;
    return true;
  }
  if (address.ipv6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&out->storage);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(address.port);
    if (inet_pton(AF_INET6, address.host.c_str(), &in6->sin6_addr) != 1) {
      *error = "Invalid address: " + address.display();
      return false;
    }
    out->length = sizeof(sockaddr_in6);
    out->family = AF_INET6;
    return true;
  }
  // IPv4 literal, "" (any) or a host name resolved to IPv4, as Python's AF_INET bind() does.
  auto* in = reinterpret_cast<sockaddr_in*>(&out->storage);
  in->sin_family = AF_INET;
  in->sin_port = htons(address.port);
  out->length = sizeof(sockaddr_in);
  out->family = AF_INET;
  if (address.host.empty()) {
    in->sin_addr.s_addr = htonl(INADDR_ANY);
    return true;
  }
  if (inet_pton(AF_INET, address.host.c_str(), &in->sin_addr) == 1) return true;
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* results = nullptr;
  const int rc = getaddrinfo(address.host.c_str(), nullptr, &hints, &results);
  if (rc != 0 || results == nullptr) {
    *error = "Can't resolve " + address.host + ": " + gai_strerror(rc);
    return false;
  }
  in->sin_addr = reinterpret_cast<sockaddr_in*>(results->ai_addr)->sin_addr;
  freeaddrinfo(results);
  return true;
}

void set_flag(int fd, int level, int option) {
  const int on = 1;
  (void)::setsockopt(fd, level, option, &on, sizeof(on));
}

// gunicorn's set_options(): SO_REUSEADDR, optional SO_REUSEPORT (ENOPROTOOPT/EINVAL ignored).
void set_listen_options(int fd, int family, const ListenOptions& options) {
  set_flag(fd, SOL_SOCKET, SO_REUSEADDR);
  if (options.reuse_port) set_flag(fd, SOL_SOCKET, SO_REUSEPORT);
  if (family == AF_INET || family == AF_INET6) set_flag(fd, IPPROTO_TCP, TCP_NODELAY);
  if (family == AF_INET6 && options.ipv6_only) set_flag(fd, IPPROTO_IPV6, IPV6_V6ONLY);
}

// gunicorn's UnixSocket: a stale socket file is removed; any other file is an error.
bool remove_stale_socket(const std::string& path, std::string* error) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return true;
    *error = "Can't stat " + path + ": " + errno_text(errno);
    return false;
  }
  if (!S_ISSOCK(st.st_mode)) {
    *error = "'" + path + "' is not a socket";
    return false;
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    *error = "Can't remove " + path + ": " + errno_text(errno);
    return false;
  }
  return true;
}

// One bind attempt. Returns 0 on success, an errno worth retrying, or -1 for a configuration
// error already described in `error`.
int try_open(const BindAddress& address, const ListenOptions& options, Listener* out, std::string* error) {
  ResolvedAddress resolved;
  if (!resolve(address, &resolved, error)) return -1;
  if (address.kind == BindAddress::Kind::Unix && !remove_stale_socket(address.path, error)) return -1;

  UniqueFd fd(::socket(resolved.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return errno;
  set_listen_options(fd.get(), resolved.family, options);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&resolved.storage), resolved.length) != 0) return errno;
  if (::listen(fd.get(), options.backlog) != 0) return errno;

  out->address = address;
  out->family = resolved.family;
  out->name = address.kind == BindAddress::Kind::Unix ? "unix:" + address.path
                                                       : listener_name(fd.get(), options.tls);
  out->fd = std::move(fd);
  return 0;
}

void log_error(const ListenOptions& options, const std::string& message) {
  if (options.log_error) options.log_error(message);
}

bool open_one(const BindAddress& address, const ListenOptions& options, Listener* out, std::string* error) {
  const int attempts = options.bind_attempts > 0 ? options.bind_attempts : 1;
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    const int rc = try_open(address, options, out, error);
    if (rc == 0) return true;
    if (rc < 0) return false;
    if (rc == EADDRINUSE) log_error(options, "Connection in use: " + address.display());
    if (rc == EADDRNOTAVAIL) log_error(options, "Invalid address: " + address.display());
    if (attempt == attempts) break;
    if (options.retry_delay_ms == 1000) {
      log_error(options, "Retrying in 1 second.");
    } else {
      log_error(options, "Retrying in " + std::to_string(options.retry_delay_ms) + " ms.");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(options.retry_delay_ms));
  }
  *error = "Can't connect to " + address.display();
  return false;
}

std::string unix_path_of(const sockaddr_un& un, socklen_t length) {
  const size_t offset = offsetof(sockaddr_un, sun_path);
  if (length <= offset) return "";
  size_t size = length - offset;
  if (un.sun_path[0] == '\0') return "@" + std::string(un.sun_path + 1, size - 1);  // abstract
  return std::string(un.sun_path, strnlen(un.sun_path, size));
}

bool parse_fd_list(std::string_view text, std::vector<int>* fds) {
  while (!text.empty()) {
    const size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    std::string item_text(item);
    char* end = nullptr;
    errno = 0;
    const long fd = std::strtol(item_text.c_str(), &end, 10);
    if (item_text.empty() || *end != '\0' || errno != 0 || fd < 0 || fd > (1 << 30)) return false;
    fds->push_back(static_cast<int>(fd));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return true;
}

}  // namespace

std::string listener_name(int fd, bool tls) {
  sockaddr_storage storage{};
  socklen_t length = sizeof(storage);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length) != 0) return "";
  const std::string scheme = tls ? "https://" : "http://";
  char host[INET6_ADDRSTRLEN] = {};
  switch (storage.ss_family) {
    case AF_INET: {
      const auto* in = reinterpret_cast<const sockaddr_in*>(&storage);
      inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
      return scheme + host + ":" + std::to_string(ntohs(in->sin_port));
    }
    case AF_INET6: {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&storage);
      inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
      return scheme + "[" + host + "]:" + std::to_string(ntohs(in6->sin6_port));
    }
    case AF_UNIX:
      return "unix:" + unix_path_of(*reinterpret_cast<const sockaddr_un*>(&storage), length);
    default:
      return "";
  }
}

bool open_listeners(const std::vector<std::string>& binds, const ListenOptions& options,
                    std::vector<Listener>* out, std::string* error) {
  std::vector<Listener> opened;
  for (const std::string& bind : binds) {
    std::string parse_error;
    const BindAddress address = parse_bind(bind, &parse_error);
    if (!parse_error.empty()) {
      *error = std::move(parse_error);
      return false;
    }
    Listener listener;
    if (address.kind == BindAddress::Kind::Fd) {
      if (!adopt_listener(address.fd, options, &listener, error)) return false;
    } else if (!open_one(address, options, &listener, error)) {
      return false;
    }
    opened.push_back(std::move(listener));
  }
  for (Listener& listener : opened) out->push_back(std::move(listener));
  return true;
}

bool open_listeners(const std::vector<std::string>& binds, int backlog, bool reuse_port,
                    std::vector<Listener>* out, std::string* error) {
  ListenOptions options;
  options.backlog = backlog;
  options.reuse_port = reuse_port;
  return open_listeners(binds, options, out, error);
}

bool adopt_listener(int fd, const ListenOptions& options, Listener* out, std::string* error) {
  sockaddr_storage storage{};
  socklen_t length = sizeof(storage);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length) != 0) {
    *error = "fd " + std::to_string(fd) + " is not a socket: " + errno_text(errno);
    return false;
  }
  int type = 0;
  socklen_t type_length = sizeof(type);
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_length) != 0 || type != SOCK_STREAM) {
    *error = "fd " + std::to_string(fd) + " is not a stream socket";
    return false;
  }
  const int family = storage.ss_family;
  if (family != AF_INET && family != AF_INET6 && family != AF_UNIX) {
    *error = "fd " + std::to_string(fd) + " has an unsupported address family";
    return false;
  }
  set_listen_options(fd, family, options);
  if (!io::set_nonblocking(fd, true) || !io::set_cloexec(fd, true) || ::listen(fd, options.backlog) != 0) {
    *error = "Can't listen on fd " + std::to_string(fd) + ": " + errno_text(errno);
    return false;
  }
  BindAddress address;
  char host[INET6_ADDRSTRLEN] = {};
  if (family == AF_UNIX) {
    address.kind = BindAddress::Kind::Unix;
    address.path = unix_path_of(*reinterpret_cast<const sockaddr_un*>(&storage), length);
  } else if (family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&storage);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
    address.host = host;
    address.port = ntohs(in->sin_port);
  } else {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&storage);
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
    address.host = host;
    address.port = ntohs(in6->sin6_port);
    address.ipv6 = true;
  }
  out->address = std::move(address);
  out->family = family;
  out->name = listener_name(fd, options.tls);
  out->fd.reset(fd);
  return true;
}

bool inherited_fds_from_env(InheritedFds* out, std::string* error) {
  out->fds.clear();
  out->systemd = false;
  // systemd socket activation (sd_listen_fds): fds start at 3, only for the pid it names.
  const char* listen_pid = std::getenv("LISTEN_PID");
  const char* listen_fds = std::getenv("LISTEN_FDS");
  if (listen_pid && listen_fds && std::atol(listen_pid) == static_cast<long>(::getpid())) {
    const long count = std::atol(listen_fds);
    ::unsetenv("LISTEN_PID");
    ::unsetenv("LISTEN_FDS");
    if (count < 0 || count > 4096) {
      *error = std::string("invalid LISTEN_FDS: ") + listen_fds;
      return false;
    }
    constexpr int kListenFdsStart = 3;  // SD_LISTEN_FDS_START
    for (int i = 0; i < count; ++i) out->fds.push_back(kListenFdsStart + i);
    out->systemd = count > 0;
    if (count > 0) return true;
  }
  // A binary upgrade (USR2): the old master passes its listeners in GUNICORN_FD.
  if (std::getenv("GUNICORN_PID") != nullptr) {
    if (const char* gunicorn_fd = std::getenv("GUNICORN_FD")) {
      const std::string value = gunicorn_fd;
      ::unsetenv("GUNICORN_FD");
      if (!parse_fd_list(value, &out->fds)) {
        out->fds.clear();
        *error = "invalid GUNICORN_FD: " + value;
        return false;
      }
    }
  }
  return true;
}

bool inherited_listeners_from_env(const ListenOptions& options, std::vector<Listener>* out,
                                  bool* systemd, std::string* error) {
  InheritedFds inherited;
  if (!inherited_fds_from_env(&inherited, error)) return false;
  if (systemd) *systemd = inherited.systemd;
  std::vector<Listener> adopted;
  for (int fd : inherited.fds) {
    Listener listener;
    if (!adopt_listener(fd, options, &listener, error)) return false;
    adopted.push_back(std::move(listener));
  }
  for (Listener& listener : adopted) out->push_back(std::move(listener));
  return true;
}

void close_listeners(std::vector<Listener>& listeners, bool unlink_unix) {
  for (Listener& listener : listeners) {
    listener.fd.reset();
    const std::string& path = listener.address.path;
    if (unlink_unix && listener.family == AF_UNIX && !path.empty() && path[0] != '@') {
      ::unlink(path.c_str());
    }
  }
  listeners.clear();
}

}  // namespace narwhal::net
