// environ['gunicorn.socket'] on a TLS connection: gunicorn hands apps its ssl.SSLSocket, whose
// getpeercert() is how WSGI apps read a client certificate. narwhal's stand-in
// (narwhal._tls.PeerSocket) carries the certificate, version, cipher and ALPN protocol.
#pragma once

#include "python/pyref.h"
#include "tls/session.h"

namespace narwhal::wsgi {

// GIL held. Null (no Python error left set) if it cannot be built: the environ goes without it.
py::Ref tls_peer_socket(const tls::PeerInfo& peer);

}  // namespace narwhal::wsgi
