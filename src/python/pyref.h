// RAII for PyObject references and the GIL. The only Python.h users outside wsgi/ and asgi/.
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string>
#include <utility>

namespace narwhal::py {

// Owns one strong reference.
class Ref {
 public:
  Ref() = default;
  static Ref steal(PyObject* object) { return Ref(object); }
  static Ref borrow(PyObject* object) {
    Py_XINCREF(object);
    return Ref(object);
  }
  Ref(const Ref& other) : object_(other.object_) { Py_XINCREF(object_); }
  Ref(Ref&& other) noexcept : object_(other.release()) {}
  Ref& operator=(Ref other) noexcept {
    std::swap(object_, other.object_);
    return *this;
  }
  ~Ref() { Py_XDECREF(object_); }

  PyObject* get() const { return object_; }
  PyObject* release() { return std::exchange(object_, nullptr); }
  explicit operator bool() const { return object_ != nullptr; }
  void reset() { Py_CLEAR(object_); }

 private:
  explicit Ref(PyObject* object) : object_(object) {}
  PyObject* object_ = nullptr;
};

// Releases the GIL for the scope (blocking I/O). Must be created while holding the GIL.
class GilRelease {
 public:
  GilRelease() : state_(PyEval_SaveThread()) {}
  ~GilRelease() { PyEval_RestoreThread(state_); }
  GilRelease(const GilRelease&) = delete;
  GilRelease& operator=(const GilRelease&) = delete;

 private:
  PyThreadState* state_;
};

// A zero-initialised static type object with its header set (what PyVarObject_HEAD_INIT does
// in C), so the fields can be filled by name before PyType_Ready.
inline PyTypeObject static_type(const char* name, Py_ssize_t basic_size) {
  PyTypeObject type{};
  type.ob_base.ob_base.ob_refcnt = 1;
  type.tp_name = name;
  type.tp_basicsize = basic_size;
  type.tp_flags = Py_TPFLAGS_DEFAULT;
  return type;
}

// Formats the current Python exception (with traceback) as text and clears it.
std::string format_exception();
// str() of the current Python exception, without traceback (a one-line reason), and clears it.
std::string exception_message();

// Saves and restores the pending exception around cleanup code (PEP 3333 close()).
class ErrorSaver {
 public:
  ErrorSaver() { PyErr_Fetch(&type_, &value_, &traceback_); }
  ~ErrorSaver() { PyErr_Restore(type_, value_, traceback_); }
  ErrorSaver(const ErrorSaver&) = delete;
  ErrorSaver& operator=(const ErrorSaver&) = delete;

 private:
  PyObject* type_ = nullptr;
  PyObject* value_ = nullptr;
  PyObject* traceback_ = nullptr;
};

}  // namespace narwhal::py
