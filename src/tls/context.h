// The server SSL_CTX a master hands to the workers it forks: built by the Python glue exactly as
// gunicorn builds it (ssl.create_default_context from the SSL settings, then the ssl_context
// hook: narwhal/_tls.py) and adopted here, once per master and again on HUP — never per
// connection. The listeners' ALPN offer is narwhal's (http_protocols), set here.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <vector>

namespace narwhal::tls {

class Context {
 public:
  // Takes a reference of its own on `context`. `alpn`: the protocols offered, most preferred
  // first ("h2", "http/1.1"); a client offering none of them gets no ALPN answer (RFC 7301
  // allows the server to ignore the extension; HTTP/1.1 is then assumed).
  static std::shared_ptr<Context> adopt(SSL_CTX* context, std::vector<std::string> alpn);

  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  SSL_CTX* native() const { return context_; }
  const std::vector<std::string>& alpn() const { return alpn_; }

 private:
  Context(SSL_CTX* context, std::vector<std::string> alpn);
  static int select_alpn(SSL* ssl, const unsigned char** out, unsigned char* out_length,
                         const unsigned char* offered, unsigned offered_length, void* self);

  SSL_CTX* context_;
  std::vector<std::string> alpn_;
};

// What OpenSSL's error queue holds, as one line (and the queue cleared).
std::string openssl_errors();

}  // namespace narwhal::tls
