#include "tls/session.h"

#include <openssl/err.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/io.h"

namespace narwhal::tls {
namespace {

// The plaintext of one full TLS record (RFC 8446 §5.1).
constexpr size_t kRecord = 16 * 1024;

char* scratch() {
  thread_local char buffer[kRecord];
  return buffer;
}

}  // namespace

Session::Session(const Context& context, int fd, bool suppress_ragged_eofs)
    : suppress_ragged_eofs_(suppress_ragged_eofs) {
  ssl_ = SSL_new(context.native());
  if (!ssl_) return;
  if (SSL_set_fd(ssl_, fd) != 1) {
    SSL_free(ssl_);
    ssl_ = nullptr;
    return;
  }
  SSL_set_accept_state(ssl_);
  // Partial writes: a write returns what went out, like send(2); moving buffer: a retried write
  // may come from another copy of the same bytes (the output queue's); release buffers: an
  // idle keep-alive connection holds no 34 KiB of record buffers.
  SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                         SSL_MODE_RELEASE_BUFFERS);
  // The context may carry either choice (Python's ssl sets it on some versions): ours wins.
  if (suppress_ragged_eofs_) SSL_set_options(ssl_, SSL_OP_IGNORE_UNEXPECTED_EOF);
  else SSL_clear_options(ssl_, SSL_OP_IGNORE_UNEXPECTED_EOF);
}

Session::~Session() {
  if (ssl_) SSL_free(ssl_);
}

Session::Handshake Session::handshake(std::string* reason) {
  ERR_clear_error();
  int rc = SSL_do_handshake(ssl_);
  if (rc == 1) return Handshake::Done;
  int error = SSL_get_error(ssl_, rc);
  want_write_ = error == SSL_ERROR_WANT_WRITE;
  if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) return Handshake::InProgress;
  unsigned long code = ERR_peek_error();
  plain_http_ = ERR_GET_LIB(code) == ERR_LIB_SSL && ERR_GET_REASON(code) == SSL_R_HTTP_REQUEST;
  if (error == SSL_ERROR_SYSCALL && code == 0) {
    *reason = rc == 0 || errno == 0 ? "the client closed the connection" : std::string(strerror(errno));
  } else {
    *reason = openssl_errors();
  }
  if (reason->empty()) {
    *reason = error == SSL_ERROR_ZERO_RETURN || rc == 0 ? "the client closed the connection"
                                                        : "TLS error " + std::to_string(error);
  }
  ERR_clear_error();
  return Handshake::Failed;
}

ssize_t Session::result(int rc, bool reading) {
  int error = SSL_get_error(ssl_, rc);
  want_write_ = false;
  switch (error) {
    case SSL_ERROR_WANT_READ:
      return io::kWouldBlock;
    case SSL_ERROR_WANT_WRITE:
      want_write_ = true;
      return io::kWouldBlock;
    case SSL_ERROR_ZERO_RETURN:
      return reading ? 0 : -EPIPE;  // close_notify received
    case SSL_ERROR_SYSCALL: {
      const int saved = errno;
      ERR_clear_error();
      if (saved == 0) return reading && suppress_ragged_eofs_ ? 0 : -ECONNRESET;
      return -saved;
    }
    default:
      ERR_clear_error();
      return -ECONNRESET;  // a protocol error: the connection is unusable
  }
}

ssize_t Session::read(void* buffer, size_t size) {
  char* into = static_cast<char*>(buffer);
  size_t total = 0;
  // Several records when the buffer has room: fewer trips through the engine's parser.
  while (total < size) {
    ERR_clear_error();
    int rc = SSL_read(ssl_, into + total, static_cast<int>(std::min<size_t>(size - total, 1u << 30)));
    if (rc > 0) {
      total += static_cast<size_t>(rc);
      want_write_ = false;
      continue;
    }
    ssize_t status = result(rc, true);
    // Bytes read before an EOF or an error are delivered; the next call reports the end.
    return total > 0 ? static_cast<ssize_t>(total) : status;
  }
  return static_cast<ssize_t>(total);
}

ssize_t Session::write(const void* data, size_t size) {
  struct iovec iov = {const_cast<void*>(data), size};
  return writev(&iov, 1);
}

ssize_t Session::writev(const struct iovec* iov, int count) {
  size_t total = 0;
  int index = 0;
  size_t offset = 0;  // into iov[index]
  while (index < count) {
    const char* data;
    size_t length;
    if (iov[index].iov_len - offset >= kRecord) {
      data = static_cast<const char*>(iov[index].iov_base) + offset;  // large: no copy
      length = iov[index].iov_len - offset;
    } else {
      // Small pieces (a head, a chunk-size line, a short body) share one record.
      char* buffer = scratch();
      length = 0;
      for (int i = index; i < count && length < kRecord; ++i) {
        const size_t skip = i == index ? offset : 0;
        const size_t take = std::min(iov[i].iov_len - skip, kRecord - length);
        if (take == 0) continue;  // an empty iovec may have a null base (memcpy's UB)
        std::memcpy(buffer + length, static_cast<const char*>(iov[i].iov_base) + skip, take);
        length += take;
      }
      data = buffer;
    }
    if (length == 0) {  // empty iovecs
      ++index;
      offset = 0;
      continue;
    }
    ERR_clear_error();
    int rc = SSL_write(ssl_, data, static_cast<int>(std::min<size_t>(length, 1u << 30)));
    if (rc <= 0) {
      ssize_t status = result(rc, false);
      return total > 0 ? static_cast<ssize_t>(total) : status;
    }
    want_write_ = false;
    size_t moved = static_cast<size_t>(rc);
    total += moved;
    while (moved > 0 && index < count) {
      const size_t step = std::min(moved, iov[index].iov_len - offset);
      offset += step;
      moved -= step;
      if (offset == iov[index].iov_len) {
        ++index;
        offset = 0;
      }
    }
  }
  return static_cast<ssize_t>(total);
}

ssize_t Session::send_file(int file, off_t* offset, size_t count) {
  size_t total = 0;
  while (total < count) {
    char* buffer = scratch();
    ssize_t got = ::pread(file, buffer, std::min(count - total, kRecord), *offset);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return total > 0 ? static_cast<ssize_t>(total) : -errno;
    if (got == 0) break;  // the file shrank
    ERR_clear_error();
    int rc = SSL_write(ssl_, buffer, static_cast<int>(got));
    if (rc <= 0) {
      ssize_t status = result(rc, false);
      return total > 0 ? static_cast<ssize_t>(total) : status;
    }
    want_write_ = false;
    *offset += rc;
    total += static_cast<size_t>(rc);
  }
  return static_cast<ssize_t>(total);
}

void Session::shutdown() {
  if (!SSL_is_init_finished(ssl_)) return;
  ERR_clear_error();
  (void)SSL_shutdown(ssl_);
  ERR_clear_error();
}

std::string_view Session::alpn() const {
  const unsigned char* data = nullptr;
  unsigned length = 0;
  SSL_get0_alpn_selected(ssl_, &data, &length);
  return data ? std::string_view(reinterpret_cast<const char*>(data), length) : std::string_view();
}

std::string_view Session::version() const { return SSL_get_version(ssl_); }

std::string_view Session::cipher() const {
  const char* name = SSL_get_cipher_name(ssl_);
  return name ? name : "";
}

int Session::cipher_bits() const { return SSL_get_cipher_bits(ssl_, nullptr); }

PeerInfo Session::peer_info() const {
  return {peer_certificate_der(), std::string(version()), std::string(cipher()), cipher_bits(), std::string(alpn())};
}

std::string Session::peer_certificate_der() const {
  X509* certificate = SSL_get1_peer_certificate(ssl_);
  if (!certificate) return {};
  std::string der;
  int length = i2d_X509(certificate, nullptr);
  if (length > 0) {
    der.resize(static_cast<size_t>(length));
    auto* out = reinterpret_cast<unsigned char*>(der.data());
    i2d_X509(certificate, &out);
  }
  X509_free(certificate);
  return der;
}

}  // namespace narwhal::tls
