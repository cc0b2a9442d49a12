#include "net/listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <gtest/gtest.h>

#include "base/io.h"
#include "net/socket_ops.h"

namespace narwhal::net {
namespace {

// The peer address text is formatted by hand for IPv4: it must equal inet_ntop's.
TEST(PeerFromSockaddr, Ipv4TextMatchesInetNtop) {
  for (const char* text : {"0.0.0.0", "127.0.0.1", "255.255.255.255", "10.0.200.3", "192.168.1.10"}) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(40001);
    ASSERT_EQ(inet_pton(AF_INET, text, &address.sin_addr), 1);
    PeerAddress peer;
    peer_from_sockaddr(reinterpret_cast<const sockaddr*>(&address), sizeof address, &peer);
    char expected[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &address.sin_addr, expected, sizeof expected);
    EXPECT_EQ(peer.host, expected);
    EXPECT_EQ(peer.host, text);
    EXPECT_EQ(peer.port, 40001);
    EXPECT_EQ(peer.family, AF_INET);
  }
}

class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/narwhal-net-XXXXXX";
    path_ = ::mkdtemp(pattern);
  }
  ~TempDir() { std::system(("rm -rf " + path_).c_str()); }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

int port_of(const Listener& listener) {
  sockaddr_storage storage{};
  socklen_t length = sizeof(storage);
  EXPECT_EQ(::getsockname(listener.fd.get(), reinterpret_cast<sockaddr*>(&storage), &length), 0);
  if (storage.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&storage)->sin_port);
  return ntohs(reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port);
}

void expect_listener_flags(int fd) {
  EXPECT_TRUE(::fcntl(fd, F_GETFL) & O_NONBLOCK);
  EXPECT_TRUE(::fcntl(fd, F_GETFD) & FD_CLOEXEC);
  int accepting = 0;
  socklen_t length = sizeof(accepting);
  ASSERT_EQ(::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &length), 0);
  EXPECT_EQ(accepting, 1);
}

UniqueFd connect_tcp(int family, const char* host, int port) {
  UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_storage storage{};
  socklen_t length;
  if (family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&storage);
    in->sin_family = AF_INET;
    in->sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, host, &in->sin_addr);
    length = sizeof(sockaddr_in);
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET6, host, &in6->sin6_addr);
    length = sizeof(sockaddr_in6);
  }
  EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&storage), length), 0);
  return fd;
}

bool ipv6_available() {
  UniqueFd fd(::socket(AF_INET6, SOCK_STREAM, 0));
  if (!fd) return false;
  sockaddr_in6 address{};
  address.sin6_family = AF_INET6;
  address.sin6_addr = in6addr_loopback;
  return ::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
}

TEST(OpenListeners, Ipv4PortZeroReportsRealPort) {
  std::vector<Listener> listeners;
  std::string error;
  ASSERT_TRUE(open_listeners({"127.0.0.1:0"}, 64, false, &listeners, &error)) << error;
  ASSERT_EQ(listeners.size(), 1u);
  const Listener& listener = listeners[0];
  EXPECT_EQ(listener.family, AF_INET);
  const int port = port_of(listener);
  EXPECT_NE(port, 0);
  EXPECT_EQ(listener.name, "http://127.0.0.1:" + std::to_string(port));
  expect_listener_flags(listener.fd.get());

  UniqueFd connection;
  PeerAddress peer;
  EXPECT_EQ(accept_connection(listener.fd.get(), &connection, &peer), io::kWouldBlock);

  UniqueFd client = connect_tcp(AF_INET, "127.0.0.1", port);
  ASSERT_EQ(io::wait_readable(listener.fd.get(), 1000), 1);
  ASSERT_EQ(accept_connection(listener.fd.get(), &connection, &peer), 0);
  EXPECT_EQ(peer.family, AF_INET);
  EXPECT_EQ(peer.host, "127.0.0.1");
  EXPECT_GT(peer.port, 0);
  EXPECT_TRUE(::fcntl(connection.get(), F_GETFL) & O_NONBLOCK);
  EXPECT_TRUE(::fcntl(connection.get(), F_GETFD) & FD_CLOEXEC);
  int nodelay = 0;
  socklen_t length = sizeof(nodelay);
  ASSERT_EQ(::getsockopt(connection.get(), IPPROTO_TCP, TCP_NODELAY, &nodelay, &length), 0);
  EXPECT_NE(nodelay, 0);
}

TEST(OpenListeners, TlsNamesHttps) {
  std::vector<Listener> listeners;
  std::string error;
  ListenOptions options;
  options.tls = true;
  ASSERT_TRUE(open_listeners({"127.0.0.1:0"}, options, &listeners, &error)) << error;
  EXPECT_EQ(listeners[0].name.rfind("https://127.0.0.1:", 0), 0u) << listeners[0].name;
}

TEST(OpenListeners, Ipv6PortZero) {
  if (!ipv6_available()) GTEST_SKIP() << "no IPv6 loopback";
  std::vector<Listener> listeners;
  std::string error;
  ASSERT_TRUE(open_listeners({"[::1]:0"}, 64, false, &listeners, &error)) << error;
  const int port = port_of(listeners[0]);
  EXPECT_EQ(listeners[0].family, AF_INET6);
  EXPECT_EQ(listeners[0].name, "http://[::1]:" + std::to_string(port));
  UniqueFd client = connect_tcp(AF_INET6, "::1", port);
  ASSERT_EQ(io::wait_readable(listeners[0].fd.get(), 1000), 1);
  UniqueFd connection;
  PeerAddress peer;
  ASSERT_EQ(accept_connection(listeners[0].fd.get(), &connection, &peer), 0);
  EXPECT_EQ(peer.family, AF_INET6);
  EXPECT_EQ(peer.host, "::1");
}

TEST(OpenListeners, SeveralBindsInOrder) {
  std::vector<Listener> listeners;
  std::string error;
  TempDir dir;
  ASSERT_TRUE(open_listeners({"127.0.0.1:0", "unix:" + dir.file("a.sock")}, 64, false, &listeners, &error));
  ASSERT_EQ(listeners.size(), 2u);
  EXPECT_EQ(listeners[0].family, AF_INET);
  EXPECT_EQ(listeners[1].family, AF_UNIX);
}

TEST(OpenListeners, UnixSocketReplacesStaleFileAndIsUnlinkedOnClose) {
  TempDir dir;
  const std::string path = dir.file("app.sock");
  {
    // A stale socket file left by a previous run.
    UniqueFd stale(::socket(AF_UNIX, SOCK_STREAM, 0));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strcpy(address.sun_path, path.c_str());
    ASSERT_EQ(::bind(stale.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  }
  std::vector<Listener> listeners;
  std::string error;
  ASSERT_TRUE(open_listeners({"unix:" + path}, 64, false, &listeners, &error)) << error;
  EXPECT_EQ(listeners[0].name, "unix:" + path);
  EXPECT_EQ(listeners[0].family, AF_UNIX);
  expect_listener_flags(listeners[0].fd.get());

  UniqueFd client(::socket(AF_UNIX, SOCK_STREAM, 0));
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strcpy(address.sun_path, path.c_str());
  ASSERT_EQ(::connect(client.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  UniqueFd connection;
  PeerAddress peer;
  ASSERT_EQ(accept_connection(listeners[0].fd.get(), &connection, &peer), 0);
  EXPECT_EQ(peer.family, AF_UNIX);
  EXPECT_EQ(peer.host, "");
  EXPECT_EQ(peer.port, -1);

  close_listeners(listeners, true);
  EXPECT_TRUE(listeners.empty());
  struct stat st;
  EXPECT_NE(::stat(path.c_str(), &st), 0);
}

TEST(OpenListeners, UnixPathThatIsNotASocketFails) {
  TempDir dir;
  const std::string path = dir.file("regular");
  UniqueFd file(::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
  std::vector<Listener> listeners;
  std::string error;
  EXPECT_FALSE(open_listeners({"unix:" + path}, 64, false, &listeners, &error));
  EXPECT_EQ(error, "'" + path + "' is not a socket");
  EXPECT_TRUE(listeners.empty());
}

TEST(OpenListeners, AdoptsFileDescriptor) {
  std::vector<Listener> first;
  std::string error;
  ASSERT_TRUE(open_listeners({"127.0.0.1:0"}, 64, false, &first, &error));
  const int port = port_of(first[0]);
  const int fd = first[0].fd.release();
  io::set_nonblocking(fd, false);
  io::set_cloexec(fd, false);

  std::vector<Listener> adopted;
  ASSERT_TRUE(open_listeners({"fd://" + std::to_string(fd)}, 64, false, &adopted, &error)) << error;
  ASSERT_EQ(adopted.size(), 1u);
  EXPECT_EQ(adopted[0].fd.get(), fd);
  EXPECT_EQ(adopted[0].name, "http://127.0.0.1:" + std::to_string(port));
  EXPECT_EQ(adopted[0].address.kind, BindAddress::Kind::Tcp);
  EXPECT_EQ(adopted[0].address.port, port);
  expect_listener_flags(fd);
}

TEST(OpenListeners, AdoptingANonSocketFails) {
  std::vector<Listener> listeners;
  std::string error;
  UniqueFd file(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  EXPECT_FALSE(open_listeners({"fd://" + std::to_string(file.get())}, 64, false, &listeners, &error));
  EXPECT_NE(error, "");
}

TEST(OpenListeners, AddressInUseRetriesThenFails) {
  std::vector<Listener> taken;
  std::string error;
  ASSERT_TRUE(open_listeners({"127.0.0.1:0"}, 64, false, &taken, &error));
  const std::string bind = "127.0.0.1:" + std::to_string(port_of(taken[0]));

  std::vector<std::string> logged;
  ListenOptions options;
  options.bind_attempts = 2;
  options.retry_delay_ms = 10;
  options.log_error = [&](const std::string& line) { logged.push_back(line); };
  std::vector<Listener> listeners;
  EXPECT_FALSE(open_listeners({"127.0.0.1:0", bind}, options, &listeners, &error));
  EXPECT_TRUE(listeners.empty());  // the first one was closed again
  const std::string display = "('127.0.0.1', " + std::to_string(port_of(taken[0])) + ")";
  EXPECT_EQ(error, "Can't connect to " + display);
  ASSERT_EQ(logged.size(), 3u);
  EXPECT_EQ(logged[0], "Connection in use: " + display);
  EXPECT_EQ(logged[1], "Retrying in 10 ms.");
  EXPECT_EQ(logged[2], "Connection in use: " + display);
}

TEST(OpenListeners, ReusePortAllowsTwoListeners) {
  std::vector<Listener> listeners;
  std::string error;
  ASSERT_TRUE(open_listeners({"127.0.0.1:0"}, 64, true, &listeners, &error));
  const std::string bind = "127.0.0.1:" + std::to_string(port_of(listeners[0]));
  ASSERT_TRUE(open_listeners({bind}, 64, true, &listeners, &error)) << error;
  EXPECT_EQ(listeners.size(), 2u);
}

TEST(OpenListeners, BadBindIsAnError) {
  std::vector<Listener> listeners;
  std::string error;
  EXPECT_FALSE(open_listeners({"127.0.0.1:http"}, 64, false, &listeners, &error));
  EXPECT_EQ(error, "'http' is not a valid port number.");
}

TEST(InheritedListeners, NothingInheritedByDefault) {
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("GUNICORN_PID");
  std::vector<Listener> listeners;
  std::string error;
  bool systemd = true;
  ASSERT_TRUE(inherited_listeners_from_env(ListenOptions{}, &listeners, &systemd, &error));
  EXPECT_TRUE(listeners.empty());
  EXPECT_FALSE(systemd);
}

TEST(InheritedListeners, GunicornFdFromParentMaster) {
  std::vector<Listener> first;
  std::string error;
  ASSERT_TRUE(open_listeners({"127.0.0.1:0"}, 64, false, &first, &error));
  const int fd = first[0].fd.release();
  ::setenv("GUNICORN_PID", "1", 1);
  ::setenv("GUNICORN_FD", std::to_string(fd).c_str(), 1);
  std::vector<Listener> listeners;
  bool systemd = true;
  ASSERT_TRUE(inherited_listeners_from_env(ListenOptions{}, &listeners, &systemd, &error)) << error;
  ::unsetenv("GUNICORN_PID");
  ASSERT_EQ(listeners.size(), 1u);
  EXPECT_EQ(listeners[0].fd.get(), fd);
  EXPECT_FALSE(systemd);
  EXPECT_EQ(std::getenv("GUNICORN_FD"), nullptr);
}

TEST(InheritedListeners, MalformedGunicornFd) {
  ::setenv("GUNICORN_PID", "1", 1);
  ::setenv("GUNICORN_FD", "3,x", 1);
  InheritedFds fds;
  std::string error;
  EXPECT_FALSE(inherited_fds_from_env(&fds, &error));
  EXPECT_EQ(error, "invalid GUNICORN_FD: 3,x");
  ::unsetenv("GUNICORN_PID");
}

TEST(InheritedListeners, SystemdOnlyForOurPid) {
  ::setenv("LISTEN_PID", std::to_string(::getpid() + 1).c_str(), 1);
  ::setenv("LISTEN_FDS", "2", 1);
  InheritedFds fds;
  std::string error;
  ASSERT_TRUE(inherited_fds_from_env(&fds, &error));
  EXPECT_TRUE(fds.fds.empty());
  EXPECT_NE(std::getenv("LISTEN_FDS"), nullptr);  // not ours: left alone

  ::setenv("LISTEN_PID", std::to_string(::getpid()).c_str(), 1);
  ASSERT_TRUE(inherited_fds_from_env(&fds, &error));
  EXPECT_EQ(fds.fds, (std::vector<int>{3, 4}));
  EXPECT_TRUE(fds.systemd);
  EXPECT_EQ(std::getenv("LISTEN_FDS"), nullptr);
  EXPECT_EQ(std::getenv("LISTEN_PID"), nullptr);
}

TEST(InheritedListeners, SystemdSocketAtFd3IsAdopted) {
  std::vector<Listener> first;
  std::string error;
  ASSERT_TRUE(open_listeners({"127.0.0.1:0"}, 64, false, &first, &error));
  const int saved = ::fcntl(3, F_DUPFD_CLOEXEC, 100);  // -1 if fd 3 was free
  ASSERT_EQ(::dup2(first[0].fd.get(), 3), 3);
  ::setenv("LISTEN_PID", std::to_string(::getpid()).c_str(), 1);
  ::setenv("LISTEN_FDS", "1", 1);
  std::vector<Listener> listeners;
  bool systemd = false;
  EXPECT_TRUE(inherited_listeners_from_env(ListenOptions{}, &listeners, &systemd, &error)) << error;
  EXPECT_TRUE(systemd);
  ASSERT_EQ(listeners.size(), 1u);
  EXPECT_EQ(listeners[0].name, first[0].name);
  listeners[0].fd.release();
  if (saved >= 0) {
    ::dup2(saved, 3);
    ::close(saved);
  } else {
    ::close(3);
  }
}

}  // namespace
}  // namespace narwhal::net
