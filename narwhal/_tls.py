"""The server SSLContext, built in the master as gunicorn builds it (gunicorn.sock.ssl_context):
``ssl.create_default_context`` from the SSL settings, then the ``ssl_context`` hook. The C++ core
adopts the context's OpenSSL state (docs/tls.md); nothing here runs per connection."""

from __future__ import annotations

import ssl
from typing import Any

# ssl_version: narwhal reads the fixed-version PROTOCOL_* numbers as a minimum (gunicorn ignores it).
_MINIMUM_VERSIONS = {3: ssl.TLSVersion.TLSv1, 4: ssl.TLSVersion.TLSv1_1, 5: ssl.TLSVersion.TLSv1_2}


def server_context(cfg: Any) -> ssl.SSLContext:
    def default_ssl_context_factory() -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=cfg.ca_certs)
        context.load_cert_chain(certfile=cfg.certfile, keyfile=cfg.keyfile)
        context.verify_mode = ssl.VerifyMode(cfg.cert_reqs)
        if cfg.ciphers:
            context.set_ciphers(cfg.ciphers)
        minimum = _MINIMUM_VERSIONS.get(cfg.ssl_version)
        if minimum is not None:
            context.minimum_version = minimum
        return context

    hook = cfg.ssl_context
    context = hook(cfg, default_ssl_context_factory) if hook is not None else default_ssl_context_factory()
    if not isinstance(context, ssl.SSLContext):
        raise TypeError(f"ssl_context must return an ssl.SSLContext, not {type(context).__name__}")
    if context.sni_callback is not None:
        raise ValueError("narwhal does not support SSLContext.sni_callback (docs/tls.md)")
    return context


def openssl_version_number() -> int:
    """The OpenSSL the ssl module runs on: the core adopts its SSL_CTX only if it is its own."""
    return ssl.OPENSSL_VERSION_NUMBER


class PeerSocket:
    """``environ['gunicorn.socket']`` on a TLS connection: what apps read from gunicorn's SSLSocket
    (``getpeercert``, ``cipher``, ``version``, ``selected_alpn_protocol``)."""

    __slots__ = ("_der", "_version", "_cipher", "_bits", "_alpn", "_decoded")

    def __init__(self, der: bytes | None, version: str, cipher: str, bits: int, alpn: str | None) -> None:
        self._der = der
        self._version = version
        self._cipher = cipher
        self._bits = bits
        self._alpn = alpn
        self._decoded: dict[str, Any] | None = None

    def getpeercert(self, binary_form: bool = False) -> Any:
        if self._der is None:
            return None
        if binary_form:
            return self._der
        if self._decoded is None:
            self._decoded = _decode_certificate(self._der)
        return self._decoded

    def cipher(self) -> tuple[str, str, int]:
        return (self._cipher, self._version, self._bits)

    def version(self) -> str:
        return self._version

    def selected_alpn_protocol(self) -> str | None:
        return self._alpn

    def __repr__(self) -> str:
        return f"<narwhal PeerSocket {self._version} {self._cipher}>"


def _decode_certificate(der: bytes) -> dict[str, Any]:
    # The ssl module's own decoder (the dict SSLSocket.getpeercert() returns) reads a PEM file.
    import os
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False) as file:
        file.write(ssl.DER_cert_to_PEM_cert(der))
        path = file.name
    try:
        return ssl._ssl._test_decode_cert(path)  # type: ignore[attr-defined]
    finally:
        os.unlink(path)
