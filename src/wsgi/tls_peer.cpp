#include "wsgi/tls_peer.h"

#include <string>

namespace narwhal::wsgi {
namespace {

py::Ref text_or_none(std::string_view text) {
  if (text.empty()) return py::Ref::borrow(Py_None);
  return py::Ref::steal(PyUnicode_DecodeLatin1(text.data(), static_cast<Py_ssize_t>(text.size()), nullptr));
}

}  // namespace

py::Ref tls_peer_socket(const tls::PeerInfo& peer) {
  static PyObject* peer_socket_type = [] {
    py::Ref module = py::Ref::steal(PyImport_ImportModule("narwhal._tls"));
    PyObject* type = module ? PyObject_GetAttrString(module.get(), "PeerSocket") : nullptr;
    if (!type) PyErr_Clear();
    return type;  // kept for the process
  }();
  if (!peer_socket_type) return {};
  const std::string& der = peer.certificate_der;
  py::Ref certificate = der.empty() ? py::Ref::borrow(Py_None)
                                    : py::Ref::steal(PyBytes_FromStringAndSize(der.data(), static_cast<Py_ssize_t>(der.size())));
  py::Ref version = text_or_none(peer.version);
  py::Ref cipher = text_or_none(peer.cipher);
  py::Ref alpn = text_or_none(peer.alpn);
  if (!certificate || !version || !cipher || !alpn) {
    PyErr_Clear();
    return {};
  }
  py::Ref socket = py::Ref::steal(PyObject_CallFunction(peer_socket_type, "OOOiO", certificate.get(), version.get(),
                                                        cipher.get(), peer.cipher_bits, alpn.get()));
  if (!socket) PyErr_Clear();
  return socket;
}

}  // namespace narwhal::wsgi
