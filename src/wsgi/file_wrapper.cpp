// wsgi.file_wrapper (PEP 3333 §"Optional Platform-Specific File Handling"): iterable over a
// file-like object; the worker sends regular files with sendfile(2) instead of iterating.
#include <sys/stat.h>

#include <cstddef>

#include "base/io.h"
#include "log/logger.h"
#include "wsgi/objects.h"

#include <structmember.h>  // after Python.h

namespace narwhal::wsgi {

namespace {

struct FileWrapper {
  PyObject_HEAD
  PyObject* filelike;
  Py_ssize_t block_size;
};

int file_wrapper_init(PyObject* self, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"filelike", "blksize", nullptr};
  PyObject* filelike;
  Py_ssize_t block_size = 8192;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|n:FileWrapper", const_cast<char**>(keywords),
                                   &filelike, &block_size)) {
    return -1;
  }
  auto* wrapper = reinterpret_cast<FileWrapper*>(self);
  Py_INCREF(filelike);
  Py_XSETREF(wrapper->filelike, filelike);
  wrapper->block_size = block_size > 0 ? block_size : 8192;
  return 0;
}

void file_wrapper_dealloc(PyObject* self) {
  Py_XDECREF(reinterpret_cast<FileWrapper*>(self)->filelike);
  Py_TYPE(self)->tp_free(self);
}

PyObject* file_wrapper_iter(PyObject* self) {
  Py_INCREF(self);
  return self;
}

PyObject* file_wrapper_next(PyObject* self) {
  auto* wrapper = reinterpret_cast<FileWrapper*>(self);
  if (!wrapper->filelike) return nullptr;
  PyObject* data = PyObject_CallMethod(wrapper->filelike, "read", "n", wrapper->block_size);
  if (!data) return nullptr;
  if (PyObject_Length(data) == 0) {
    Py_DECREF(data);
    PyErr_Clear();
    return nullptr;  // StopIteration
  }
  return data;
}

PyObject* file_wrapper_close(PyObject* self, PyObject*) {
  auto* wrapper = reinterpret_cast<FileWrapper*>(self);
  if (wrapper->filelike && PyObject_HasAttrString(wrapper->filelike, "close")) {
    PyObject* result = PyObject_CallMethod(wrapper->filelike, "close", nullptr);
    if (!result) return nullptr;
    Py_DECREF(result);
  }
  Py_RETURN_NONE;
}

PyObject* file_wrapper_getattr(PyObject* self, PyObject* name) {
  PyObject* found = PyObject_GenericGetAttr(self, name);
  if (found || !PyErr_ExceptionMatches(PyExc_AttributeError)) return found;
  PyErr_Clear();
  auto* wrapper = reinterpret_cast<FileWrapper*>(self);
  if (!wrapper->filelike) {
    PyErr_SetObject(PyExc_AttributeError, name);
    return nullptr;
  }
  return PyObject_GetAttr(wrapper->filelike, name);  // e.g. .name, .read for apps that peek
}

PyMethodDef file_wrapper_methods[] = {
    {"close", file_wrapper_close, METH_NOARGS, "close the wrapped file"},
    {nullptr, nullptr, 0, nullptr}};

PyMemberDef file_wrapper_members[] = {
    {"filelike", T_OBJECT, offsetof(FileWrapper, filelike), READONLY, "the wrapped file"},
    {"blksize", T_PYSSIZET, offsetof(FileWrapper, block_size), READONLY, "block size"},
    {nullptr, 0, 0, 0, nullptr}};

PyTypeObject file_wrapper_type_object = py::static_type("narwhal._core.FileWrapper", sizeof(FileWrapper));

}  // namespace

bool register_file_wrapper_type(PyObject* module) {
  PyTypeObject& type = file_wrapper_type_object;
  type.tp_basicsize = sizeof(FileWrapper);
  type.tp_flags = Py_TPFLAGS_DEFAULT;
  type.tp_doc = "FileWrapper(filelike, blksize=8192): wsgi.file_wrapper";
  type.tp_init = file_wrapper_init;
  type.tp_new = PyType_GenericNew;
  type.tp_dealloc = file_wrapper_dealloc;
  type.tp_iter = file_wrapper_iter;
  type.tp_iternext = file_wrapper_next;
  type.tp_methods = file_wrapper_methods;
  type.tp_members = file_wrapper_members;
  type.tp_getattro = file_wrapper_getattr;
  if (PyType_Ready(&type) < 0) return false;
  Py_INCREF(&type);
  return PyModule_AddObject(module, "FileWrapper", reinterpret_cast<PyObject*>(&type)) == 0;
}

PyTypeObject* file_wrapper_type() { return &file_wrapper_type_object; }

bool file_wrapper_regular_file(PyObject* object, int* fd, off_t* offset, uint64_t* size) {
  if (Py_TYPE(object) != &file_wrapper_type_object) return false;
  PyObject* filelike = reinterpret_cast<FileWrapper*>(object)->filelike;
  if (!filelike) return false;
  py::Ref fileno = py::Ref::steal(PyObject_CallMethod(filelike, "fileno", nullptr));
  if (!fileno) {
    PyErr_Clear();  // BytesIO and friends: iterate instead
    return false;
  }
  long descriptor = PyLong_AsLong(fileno.get());
  if (descriptor < 0) {
    PyErr_Clear();
    return false;
  }
  struct stat info;
  if (fstat(static_cast<int>(descriptor), &info) != 0 || !S_ISREG(info.st_mode)) return false;
  // Buffered readers may have read ahead: flush their view by asking tell() (position of the
  // Python object, which is what the app expects the body to start at).
  py::Ref position = py::Ref::steal(PyObject_CallMethod(filelike, "tell", nullptr));
  off_t start = 0;
  if (position) {
    start = static_cast<off_t>(PyLong_AsLongLong(position.get()));
    if (start < 0) start = 0;
  }
  PyErr_Clear();
  *fd = static_cast<int>(descriptor);
  *offset = start;
  *size = info.st_size > start ? static_cast<uint64_t>(info.st_size - start) : 0;
  return true;
}

// ---- wsgi.errors ----
namespace {

struct ErrorStream {
  PyObject_HEAD
};

PyObject* error_stream_write(PyObject*, PyObject* text) {
  Py_ssize_t size = 0;
  const char* data = nullptr;
  if (PyUnicode_Check(text)) {
    data = PyUnicode_AsUTF8AndSize(text, &size);
    if (!data) return nullptr;
  } else if (PyBytes_Check(text)) {
    data = PyBytes_AS_STRING(text);
    size = PyBytes_GET_SIZE(text);
  } else {
    PyErr_SetString(PyExc_TypeError, "wsgi.errors.write() takes str");
    return nullptr;
  }
  // Raw, like gunicorn's WSGIErrorsWrapper: the app formats its own lines.
  struct iovec iov = {const_cast<char*>(data), static_cast<size_t>(size)};
  io::write_all(log::logger().error_fd(), &iov, 1, 1000);
  return PyLong_FromSsize_t(size);
}

PyObject* error_stream_writelines(PyObject* self, PyObject* lines) {
  py::Ref iterator = py::Ref::steal(PyObject_GetIter(lines));
  if (!iterator) return nullptr;
  while (py::Ref line = py::Ref::steal(PyIter_Next(iterator.get()))) {
    py::Ref written = py::Ref::steal(error_stream_write(self, line.get()));
    if (!written) return nullptr;
  }
  if (PyErr_Occurred()) return nullptr;
  Py_RETURN_NONE;
}

PyObject* error_stream_flush(PyObject*, PyObject*) { Py_RETURN_NONE; }

PyMethodDef error_stream_methods[] = {
    {"write", error_stream_write, METH_O, "write(str) to the error log"},
    {"writelines", error_stream_writelines, METH_O, "writelines(iterable of str)"},
    {"flush", error_stream_flush, METH_NOARGS, "no-op: every write goes straight to the log"},
    {nullptr, nullptr, 0, nullptr}};

PyTypeObject error_stream_type = py::static_type("narwhal._core.ErrorStream", sizeof(ErrorStream));

}  // namespace

bool register_error_stream_type(PyObject* module) {
  error_stream_type.tp_basicsize = sizeof(ErrorStream);
  error_stream_type.tp_flags = Py_TPFLAGS_DEFAULT;
  error_stream_type.tp_methods = error_stream_methods;
  error_stream_type.tp_new = PyType_GenericNew;
  if (PyType_Ready(&error_stream_type) < 0) return false;
  Py_INCREF(&error_stream_type);
  return PyModule_AddObject(module, "ErrorStream", reinterpret_cast<PyObject*>(&error_stream_type)) == 0;
}

py::Ref new_error_stream() {
  return py::Ref::steal(PyObject_CallNoArgs(reinterpret_cast<PyObject*>(&error_stream_type)));
}

bool register_types(PyObject* module) {
  return register_input_type(module) && register_start_response_type(module) &&
         register_file_wrapper_type(module) && register_error_stream_type(module);
}

}  // namespace narwhal::wsgi
