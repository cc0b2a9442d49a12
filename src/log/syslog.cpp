#include "log/syslog.h"

#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <new>
#include <utility>

#include "http/text.h"
#include "log/socket_target.h"

namespace narwhal::log {
namespace {

constexpr std::array<std::pair<std::string_view, int>, 21> kFacilities{{
    {"auth", 4},   {"authpriv", 10}, {"cron", 9},    {"daemon", 3},  {"ftp", 11},    {"kern", 0},
    {"lpr", 6},    {"mail", 2},      {"news", 7},    {"security", 4}, {"syslog", 5}, {"user", 1},
    {"uucp", 8},   {"local0", 16},   {"local1", 17}, {"local2", 18}, {"local3", 19}, {"local4", 20},
    {"local5", 21}, {"local6", 22},  {"local7", 23},
}};

}  // namespace

int syslog_facility(std::string_view name) {
  for (const auto& [known, number] : kFacilities) {
    if (http::equals_ignore_case(name, known)) return number;
  }
  return -1;
}

bool Syslog::open(std::string_view address, std::string_view facility, std::string_view program, std::string* error) {
  const int number = syslog_facility(facility);
  if (number < 0) {
    *error = "syslog_facility: unknown facility name " + std::string(facility);
    return false;
  }
  std::string text(address), failure;
  UniqueFd socket;
  bool stream = false;
  if (text.rfind("unix://", 0) == 0) {
    // gunicorn: "unix://PATH#dgram" or "#stream"; without it Python's SysLogHandler tries a
    // datagram socket, then a stream one.
    std::string path = text.substr(7);
    std::string kind;
    if (const size_t hash = path.find('#'); hash != std::string::npos) {
      kind = path.substr(hash + 1);
      path.resize(hash);
    }
    if (kind != "stream") socket = connect_unix(path, SOCK_DGRAM, &failure);
    if (!socket && kind != "dgram") {
      socket = connect_unix(path, SOCK_STREAM, &failure);
      stream = static_cast<bool>(socket);
    }
  } else {
    const bool tcp = text.rfind("tcp://", 0) == 0;
    if (!tcp && text.rfind("udp://", 0) != 0) {
      *error = "syslog_addr: expected unix://PATH, udp://HOST:PORT or tcp://HOST:PORT, got " + text;
      return false;
    }
    const HostPort target = split_host_port(std::string_view(text).substr(6), "514");
    socket = connect_inet(target.host, target.port, tcp ? SOCK_STREAM : SOCK_DGRAM, &failure);
    stream = tcp;
  }
  if (!socket) {
    *error = "syslog_addr " + text + ": " + failure;
    return false;
  }
  socket_ = std::move(socket);
  stream_ = stream;
  facility_ = number;
  program_.assign(program);
  return true;
}

void Syslog::after_fork() { new (&mutex_) std::mutex(); }

void Syslog::send(int severity, bool access, int pid, std::string_view message) {
  if (!socket_) return;
  // Python's SysLogHandler: "<PRI>" + formatted record + NUL; gunicorn's format is
  // "gunicorn.<prefix>.<error|access>: [pid] message".
  thread_local std::string packet;
  packet.clear();
  packet.push_back('<');
  packet.append(std::to_string(facility_ * 8 + severity));
  packet.push_back('>');
  packet.append(program_).append(access ? ".access: [" : ".error: [").append(std::to_string(pid)).append("] ");
  packet.append(message);
  packet.push_back('\0');
  if (stream_) {
    std::lock_guard<std::mutex> lock(mutex_);
    (void)!::send(socket_.get(), packet.data(), packet.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  } else {
    (void)!::send(socket_.get(), packet.data(), packet.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  }
}

}  // namespace narwhal::log
