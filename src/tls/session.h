// One TLS connection over a non-blocking socket: the handshake, reads and writes with the
// results of base/io.h (bytes, 0 for EOF, io::kWouldBlock, -errno), and what the socket must
// become before a call that would block can go on (want_write). The engine drives the
// handshake from its loop; afterwards only the thread that owns the connection calls it.
#pragma once

#include <openssl/ssl.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <string>
#include <string_view>

#include "tls/context.h"

namespace narwhal::tls {

// What the app may learn of a TLS connection (environ['gunicorn.socket'], docs/tls.md), copied
// out of the session: an HTTP/2 stream's internal connection carries its client's.
struct PeerInfo {
  std::string certificate_der;  // empty: no client certificate
  std::string version;
  std::string cipher;
  int cipher_bits = 0;
  std::string alpn;
};

class Session {
 public:
  // `suppress_ragged_eofs`: a peer closing without close_notify reads as EOF (gunicorn's
  // default, the ssl module's); otherwise as an error (-ECONNRESET).
  Session(const Context& context, int fd, bool suppress_ragged_eofs);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  bool valid() const { return ssl_ != nullptr; }

  enum class Handshake { Done, InProgress, Failed };
  // Non-blocking; InProgress: call again when the socket is readable (or writable:
  // want_write()). Failed: *reason says why (OpenSSL's words); plain_http() tells whether the
  // peer spoke plain HTTP to this TLS port.
  Handshake handshake(std::string* reason);
  bool plain_http() const { return plain_http_; }

  ssize_t read(void* buffer, size_t size);
  ssize_t write(const void* data, size_t size);
  // Gathers small iovecs into records of up to 16 KiB (one record each, not one per iovec).
  // After io::kWouldBlock the caller offers the same bytes again (it always does: unsent bytes
  // stay first in line), as OpenSSL requires of a retried write.
  ssize_t writev(const struct iovec* iov, int count);
  // A file range read and encrypted in user space (no sendfile through TLS without kTLS).
  ssize_t send_file(int file, off_t* offset, size_t count);
  // Decrypted bytes held inside OpenSSL: epoll will not say so, read() returns them.
  bool pending() const { return SSL_pending(ssl_) > 0; }
  // The last call returned io::kWouldBlock waiting for the socket to take bytes (a read can
  // need that too: a TLS 1.3 KeyUpdate answer).
  bool want_write() const { return want_write_; }
  // Sends close_notify if the socket takes it now (never waits).
  void shutdown();

  std::string_view alpn() const;
  std::string_view version() const;
  std::string_view cipher() const;
  int cipher_bits() const;
  std::string peer_certificate_der() const;  // empty: the client sent none
  PeerInfo peer_info() const;

 private:
  ssize_t result(int rc, bool reading);

  SSL* ssl_ = nullptr;
  bool suppress_ragged_eofs_ = true;
  bool want_write_ = false;
  bool plain_http_ = false;
};

}  // namespace narwhal::tls
