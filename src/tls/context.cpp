#include "tls/context.h"

#include <openssl/err.h>

#include <cstring>

namespace narwhal::tls {

std::shared_ptr<Context> Context::adopt(SSL_CTX* context, std::vector<std::string> alpn) {
  if (!context || SSL_CTX_up_ref(context) != 1) return nullptr;
  return std::shared_ptr<Context>(new Context(context, std::move(alpn)));
}

Context::Context(SSL_CTX* context, std::vector<std::string> alpn) : context_(context), alpn_(std::move(alpn)) {
  // Renegotiation is a DoS lever (CPU per request) and HTTP/2 forbids it (RFC 9113 §9.2.1).
  SSL_CTX_set_options(context_, SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_alpn_select_cb(context_, &Context::select_alpn, this);
}

// The selection callback is left in place: a HUP may adopt the same SSL_CTX again (a hook that
// returns one SSLContext object every time), and the new Context has set its own by then.
Context::~Context() { SSL_CTX_free(context_); }

// The server's preference wins (RFC 7301 §3.2): the first of ours the client offers.
int Context::select_alpn(SSL*, const unsigned char** out, unsigned char* out_length,
                         const unsigned char* offered, unsigned offered_length, void* self) {
  const auto& ours = static_cast<Context*>(self)->alpn_;
  for (const std::string& protocol : ours) {
    for (unsigned i = 0; i < offered_length;) {
      const unsigned length = offered[i];
      if (i + 1 + length > offered_length) return SSL_TLSEXT_ERR_NOACK;  // malformed list
      if (length == protocol.size() && std::memcmp(offered + i + 1, protocol.data(), length) == 0) {
        *out = offered + i + 1;
        *out_length = static_cast<unsigned char>(length);
        return SSL_TLSEXT_ERR_OK;
      }
      i += 1 + length;
    }
  }
  return SSL_TLSEXT_ERR_NOACK;
}

std::string openssl_errors() {
  std::string text;
  while (unsigned long code = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof buffer);
    if (!text.empty()) text += "; ";
    text += buffer;
  }
  return text;
}

}  // namespace narwhal::tls
