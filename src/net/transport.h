// A connection's byte stream: the socket itself, or TLS over it. Every read and write of a
// client connection goes through one (the engine's loop, the WSGI exchange, the asgi worker,
// the output queue), so a worker type never knows whether TLS is on. Plain sockets cost one
// predictable branch.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include "base/io.h"
#include "tls/session.h"

namespace narwhal::net {

struct Transport {
  int fd = -1;
  tls::Session* tls = nullptr;  // null: plain

  ssize_t read(void* buffer, size_t size) const {
    return tls ? tls->read(buffer, size) : io::read_some(fd, buffer, size);
  }
  ssize_t write(const void* data, size_t size) const {
    return tls ? tls->write(data, size) : io::write_some(fd, data, size);
  }
  ssize_t writev(const struct iovec* iov, int count) const {
    return tls ? tls->writev(iov, count) : io::writev_some(fd, iov, count);
  }
  ssize_t send_file(int file, off_t* offset, size_t count) const {
    return tls ? tls->send_file(file, offset, count) : io::sendfile_some(fd, file, offset, count);
  }
  // Bytes already received and decrypted, which epoll will not announce.
  bool buffered() const { return tls && tls->pending(); }
  // After io::kWouldBlock: wait for writability rather than readability.
  bool want_write() const { return tls && tls->want_write(); }
};

}  // namespace narwhal::net
