// WebSocket echo load generator for bench/suite.py (the asgi-ws-echo workload): N connections,
// each sends one masked text message and waits for its echo, for D seconds; prints messages/s.
//   ws_echo_load HOST PORT PATH CONNECTIONS SECONDS [MESSAGE_BYTES]
// One thread, epoll; written for the bench because wrk speaks no WebSocket and a Python client
// would be slower than the servers it measures.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

struct Conn {
  int fd = -1;
  bool upgraded = false;
  std::string in;
};

static std::string frame(const std::string& payload) {
  std::string out;
  out.push_back(static_cast<char>(0x81));
  if (payload.size() < 126) {
    out.push_back(static_cast<char>(0x80 | payload.size()));
  } else {
    out.push_back(static_cast<char>(0x80 | 126));
    out.push_back(static_cast<char>(payload.size() >> 8));
    out.push_back(static_cast<char>(payload.size() & 0xff));
  }
  const unsigned char key[4] = {0x12, 0x34, 0x56, 0x78};
  out.append(reinterpret_cast<const char*>(key), 4);
  for (size_t i = 0; i < payload.size(); ++i) out.push_back(static_cast<char>(payload[i] ^ key[i % 4]));
  return out;
}

// Length of one complete server frame at the front of `in`, or 0.
static size_t complete_frame(const std::string& in) {
  if (in.size() < 2) return 0;
  size_t size = static_cast<unsigned char>(in[1]) & 0x7f, offset = 2;
  if (size == 126) {
    if (in.size() < 4) return 0;
    size = (static_cast<unsigned char>(in[2]) << 8) | static_cast<unsigned char>(in[3]);
    offset = 4;
  } else if (size == 127) {
    return 0;  // not used by this load
  }
  return in.size() >= offset + size ? offset + size : 0;
}

int main(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(stderr, "usage: %s HOST PORT PATH CONNECTIONS SECONDS [BYTES]\n", argv[0]);
    return 2;
  }
  const char* host = argv[1];
  const int port = std::atoi(argv[2]);
  const std::string path = argv[3];
  const int count = std::atoi(argv[4]);
  const double seconds = std::atof(argv[5]);
  const size_t bytes = argc > 6 ? static_cast<size_t>(std::atoi(argv[6])) : 32;
  const std::string message = frame(std::string(bytes, 'm'));
  const std::string handshake = "GET " + path + " HTTP/1.1\r\nHost: " + host +
                                "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  int epoll = epoll_create1(0);
  std::vector<Conn> conns(static_cast<size_t>(count));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, host, &address.sin_addr);
  for (size_t i = 0; i < conns.size(); ++i) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      std::perror("connect");
      return 1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    conns[i].fd = fd;
    if (write(fd, handshake.data(), handshake.size()) < 0) return 1;
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = i;
    epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event);
  }
  long long messages = 0, errors = 0;
  auto start = std::chrono::steady_clock::now();
  auto deadline = start + std::chrono::duration<double>(seconds);
  std::vector<epoll_event> events(256);
  char buffer[65536];
  bool counting = false;
  auto count_from = start;
  while (std::chrono::steady_clock::now() < deadline) {
    int n = epoll_wait(epoll, events.data(), static_cast<int>(events.size()), 100);
    for (int e = 0; e < n; ++e) {
      Conn& c = conns[events[e].data.u64];
      ssize_t got = read(c.fd, buffer, sizeof buffer);
      if (got <= 0) {
        ++errors;
        epoll_ctl(epoll, EPOLL_CTL_DEL, c.fd, nullptr);
        continue;
      }
      c.in.append(buffer, static_cast<size_t>(got));
      if (!c.upgraded) {
        size_t end = c.in.find("\r\n\r\n");
        if (end == std::string::npos) continue;
        if (c.in.compare(0, 12, "HTTP/1.1 101") != 0) {
          ++errors;
          continue;
        }
        c.upgraded = true;
        c.in.erase(0, end + 4);
        if (!counting) {
          counting = true;
          count_from = std::chrono::steady_clock::now();
        }
        if (write(c.fd, message.data(), message.size()) < 0) ++errors;
        continue;
      }
      while (size_t size = complete_frame(c.in)) {
        c.in.erase(0, size);
        ++messages;
        if (write(c.fd, message.data(), message.size()) < 0) ++errors;
      }
    }
  }
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - count_from).count();
  std::printf("messages %lld\nseconds %.3f\nmessages_per_second %.1f\nerrors %lld\n", messages, elapsed,
              messages / elapsed, errors);
  return 0;
}
