#include "module/tls_setup.h"

#include <openssl/crypto.h>

#include "python/convert.h"

namespace narwhal::module {
namespace {

// CPython's _ssl.c: `typedef struct { PyObject_HEAD SSL_CTX *ctx; ... } PySSLContext;` — the
// first field of every ssl.SSLContext (3.7 through 3.13). Read only after checking the object
// is one and that the ssl module runs on this process's libssl (same version number).
struct PySSLContextHead {
  PyObject_HEAD
  SSL_CTX* ctx;
};

std::string python_error_text() {
  PyObject *type, *value, *traceback;
  PyErr_Fetch(&type, &value, &traceback);
  PyErr_NormalizeException(&type, &value, &traceback);
  std::string text = "unknown error";
  if (value) {
    py::Ref name = py::Ref::steal(PyObject_GetAttrString(reinterpret_cast<PyObject*>(Py_TYPE(value)), "__name__"));
    py::Ref message = py::Ref::steal(PyObject_Str(value));
    const char* name_text = name ? PyUnicode_AsUTF8(name.get()) : nullptr;
    const char* message_text = message ? PyUnicode_AsUTF8(message.get()) : nullptr;
    text = std::string(name_text ? name_text : "Exception") + ": " + (message_text ? message_text : "");
  }
  Py_XDECREF(type);
  Py_XDECREF(value);
  Py_XDECREF(traceback);
  PyErr_Clear();
  return text;
}

}  // namespace

bool build_tls(PyObject* server, const config::Config& cfg, TlsState* state, std::string* error) {
  py::Ref module = py::Ref::steal(PyImport_ImportModule("narwhal._tls"));
  py::Ref ssl_module = module ? py::Ref::steal(PyImport_ImportModule("ssl")) : py::Ref();
  py::Ref base = ssl_module ? py::Ref::steal(PyObject_GetAttrString(ssl_module.get(), "SSLContext")) : py::Ref();
  py::Ref version = ssl_module ? py::Ref::steal(PyObject_GetAttrString(ssl_module.get(), "OPENSSL_VERSION_NUMBER")) : py::Ref();
  py::Ref python_cfg = server ? py::Ref::steal(PyObject_GetAttrString(server, "cfg")) : py::Ref();
  if (!module || !base || !version || !python_cfg) {
    *error = "TLS: can't load narwhal._tls: " + python_error_text();
    return false;
  }
  if (PyLong_AsUnsignedLong(version.get()) != OpenSSL_version_num()) {
    PyErr_Clear();
    *error = "TLS: Python's ssl module runs on another OpenSSL than narwhal (" + std::string(OpenSSL_version(OPENSSL_VERSION)) + ")";
    return false;
  }
  py::Ref context = py::Ref::steal(PyObject_CallMethod(module.get(), "server_context", "O", python_cfg.get()));
  if (!context) {
    *error = "TLS: can't build the SSL context (certfile " + cfg.get_string("certfile") + ", keyfile " +
             (cfg.get_string("keyfile").empty() ? "-" : cfg.get_string("keyfile")) + "): " + python_error_text();
    return false;
  }
  if (PyObject_IsInstance(context.get(), base.get()) != 1) {
    PyErr_Clear();
    *error = "TLS: ssl_context did not return an ssl.SSLContext";
    return false;
  }
  SSL_CTX* native = reinterpret_cast<PySSLContextHead*>(context.get())->ctx;
  // ALPN: what http_protocols lists, in its order ("h1" is "http/1.1" on the wire).
  std::vector<std::string> alpn;
  for (const std::string& protocol : cfg.get_list("http_protocols")) alpn.push_back(protocol == "h1" ? "http/1.1" : protocol);
  if (alpn.empty()) alpn.push_back("http/1.1");
  std::shared_ptr<tls::Context> adopted = tls::Context::adopt(native, alpn);
  if (!adopted) {
    *error = "TLS: can't use the SSL context: " + tls::openssl_errors();
    return false;
  }
  state->python_context = std::move(context);
  state->context = std::move(adopted);
  return true;
}

}  // namespace narwhal::module
