#include "asgi/scope.h"

#include "http/chars.h"

namespace narwhal::asgi {
namespace {

constexpr size_t kMaxCachedHeaderNames = 512;

py::Ref text(std::string_view value) { return py::Ref::steal(PyUnicode_FromStringAndSize(value.data(), static_cast<Py_ssize_t>(value.size()))); }

bool set(PyObject* dict, PyObject* key, PyObject* value) { return value && PyDict_SetItem(dict, key, value) == 0; }

bool set_steal(PyObject* dict, PyObject* key, PyObject* value) {
  py::Ref owned = py::Ref::steal(value);
  return set(dict, key, owned.get());
}

}  // namespace

bool ScopeBuilder::init(const ScopeSettings& settings) {
  settings_ = settings;
  keys_.type = PyUnicode_InternFromString("type");
  keys_.asgi = PyUnicode_InternFromString("asgi");
  keys_.http_version = PyUnicode_InternFromString("http_version");
  keys_.method = PyUnicode_InternFromString("method");
  keys_.scheme = PyUnicode_InternFromString("scheme");
  keys_.path = PyUnicode_InternFromString("path");
  keys_.raw_path = PyUnicode_InternFromString("raw_path");
  keys_.query_string = PyUnicode_InternFromString("query_string");
  keys_.root_path = PyUnicode_InternFromString("root_path");
  keys_.headers = PyUnicode_InternFromString("headers");
  keys_.client = PyUnicode_InternFromString("client");
  keys_.server = PyUnicode_InternFromString("server");
  keys_.state = PyUnicode_InternFromString("state");
  keys_.subprotocols = PyUnicode_InternFromString("subprotocols");
  keys_.extensions = PyUnicode_InternFromString("extensions");
  root_path_ = text(settings.root_path);
  asgi_http_ = py::Ref::steal(Py_BuildValue("{s:s,s:s}", "version", "3.0", "spec_version", "2.4"));
  http10_ = py::Ref::steal(PyUnicode_InternFromString("1.0"));
  http11_ = py::Ref::steal(PyUnicode_InternFromString("1.1"));
  type_http_ = py::Ref::steal(PyUnicode_InternFromString("http"));
  type_websocket_ = py::Ref::steal(PyUnicode_InternFromString("websocket"));
  scheme_http_ = py::Ref::borrow(type_http_.get());
  scheme_https_ = py::Ref::steal(PyUnicode_InternFromString("https"));
  scheme_ws_ = py::Ref::steal(PyUnicode_InternFromString("ws"));
  scheme_wss_ = py::Ref::steal(PyUnicode_InternFromString("wss"));
  for (const char* name : {"GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"}) {
    methods_.emplace_back(name, py::Ref::steal(PyUnicode_InternFromString(name)));
  }
  return keys_.extensions && root_path_ && asgi_http_ && scheme_wss_ && !PyErr_Occurred();
}

py::Ref ScopeBuilder::address_tuple(std::string_view host, int port, bool is_unix) {
  if (is_unix) {
    py::Ref path = text(host);
    return path ? py::Ref::steal(PyTuple_Pack(2, path.get(), Py_None)) : py::Ref();
  }
  return py::Ref::steal(Py_BuildValue("(s#i)", host.data(), static_cast<Py_ssize_t>(host.size()), port));
}

PyObject* ScopeBuilder::header_name(std::string_view name) {
  lowered_.assign(name);
  for (char& c : lowered_) c = http::chars::to_lower(c);
  auto found = header_names_.find(lowered_);
  if (found != header_names_.end()) return found->second.get();
  py::Ref bytes = py::Ref::steal(PyBytes_FromStringAndSize(lowered_.data(), static_cast<Py_ssize_t>(lowered_.size())));
  if (!bytes) return nullptr;
  if (header_names_.size() >= kMaxCachedHeaderNames) {
    // Not cached (a client inventing names cannot grow the cache): the caller's list owns it.
    scratch_name_ = std::move(bytes);
    return scratch_name_.get();
  }
  return header_names_.emplace(lowered_, std::move(bytes)).first->second.get();
}

PyObject* ScopeBuilder::method(std::string_view method) {
  for (auto& [name, object] : methods_) {
    if (name == method) return Py_NewRef(object.get());
  }
  return PyUnicode_DecodeLatin1(method.data(), static_cast<Py_ssize_t>(method.size()), nullptr);
}

py::Ref ScopeBuilder::common(const http::RequestHead& head, PyObject* type, PyObject* scheme, PyObject* client,
                             PyObject* server, PyObject* state) {
  py::Ref scope = py::Ref::steal(PyDict_New());
  if (!scope) return scope;
  PyObject* dict = scope.get();
  http::TargetParts target = http::split_target(head.target);
  decoded_.clear();
  http::percent_decode(target.path, decoded_);
  bool ok = set(dict, keys_.type, type) && set_steal(dict, keys_.asgi, PyDict_Copy(asgi_http_.get())) &&
            set(dict, keys_.http_version, head.version_minor == 0 ? http10_.get() : http11_.get()) &&
            set(dict, keys_.scheme, scheme) &&
            set_steal(dict, keys_.path, PyUnicode_DecodeUTF8(decoded_.data(), static_cast<Py_ssize_t>(decoded_.size()), "replace")) &&
            set_steal(dict, keys_.raw_path, PyBytes_FromStringAndSize(target.path.data(), static_cast<Py_ssize_t>(target.path.size()))) &&
            set_steal(dict, keys_.query_string, PyBytes_FromStringAndSize(target.query.data(), static_cast<Py_ssize_t>(target.query.size()))) &&
            set(dict, keys_.root_path, root_path_.get()) && set(dict, keys_.client, client ? client : Py_None) &&
            set(dict, keys_.server, server ? server : Py_None);
  if (!ok) return py::Ref();
  py::Ref headers = py::Ref::steal(PyList_New(static_cast<Py_ssize_t>(head.headers.size())));
  if (!headers) return py::Ref();
  Py_ssize_t index = 0;
  for (const http::Header& header : head.headers) {
    PyObject* name = header_name(header.name);
    if (!name) return py::Ref();
    py::Ref value = py::Ref::steal(PyBytes_FromStringAndSize(header.value.data(), static_cast<Py_ssize_t>(header.value.size())));
    PyObject* pair = value ? PyTuple_Pack(2, name, value.get()) : nullptr;
    scratch_name_.reset();
    if (!pair) return py::Ref();
    PyList_SET_ITEM(headers.get(), index++, pair);
  }
  if (!set(dict, keys_.headers, headers.get())) return py::Ref();
  // The lifespan state: a shallow copy per request (ASGI lifespan spec, "state").
  if (state && !set_steal(dict, keys_.state, PyDict_Copy(state))) return py::Ref();
  return scope;
}

py::Ref ScopeBuilder::http(const http::RequestHead& head, PyObject* client, PyObject* server, PyObject* state, bool https,
                           bool http2) {
  py::Ref scope = common(head, type_http_.get(), https ? scheme_https_.get() : scheme_http_.get(), client, server, state);
  if (scope && http2) {
    static PyObject* version_2 = PyUnicode_InternFromString("2");
    if (PyDict_SetItem(scope.get(), keys_.http_version, version_2) != 0) return py::Ref();
  }
  if (scope && !set_steal(scope.get(), keys_.method, method(head.method))) return py::Ref();
  return scope;
}

py::Ref ScopeBuilder::websocket(const http::RequestHead& head, PyObject* client, PyObject* server, PyObject* state,
                                bool https, const std::vector<std::string>& subprotocols) {
  py::Ref scope = common(head, type_websocket_.get(), https ? scheme_wss_.get() : scheme_ws_.get(), client, server, state);
  if (!scope) return scope;
  py::Ref list = py::Ref::steal(PyList_New(0));
  if (!list) return py::Ref();
  for (const std::string& protocol : subprotocols) {
    py::Ref item = text(protocol);
    if (!item || PyList_Append(list.get(), item.get()) < 0) return py::Ref();
  }
  if (!set(scope.get(), keys_.subprotocols, list.get())) return py::Ref();
  // The denial extension: the app may answer the handshake with an HTTP response.
  py::Ref extensions = py::Ref::steal(Py_BuildValue("{s:{}}", "websocket.http.response"));
  if (!set(scope.get(), keys_.extensions, extensions.get())) return py::Ref();
  return scope;
}

}  // namespace narwhal::asgi
