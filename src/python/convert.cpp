#include "python/convert.h"

namespace narwhal::py {
namespace {

std::string str_of(PyObject* object) {
  Ref text = Ref::steal(PyObject_Str(object));
  if (!text) {
    PyErr_Clear();
    return "<unprintable>";
  }
  Py_ssize_t size = 0;
  const char* utf8 = PyUnicode_AsUTF8AndSize(text.get(), &size);
  if (!utf8) {
    PyErr_Clear();
    return "<unprintable>";
  }
  return std::string(utf8, static_cast<size_t>(size));
}

std::string repr_of(PyObject* object) {
  Ref text = Ref::steal(PyObject_Repr(object));
  const char* utf8 = text ? PyUnicode_AsUTF8(text.get()) : nullptr;
  if (!utf8) {
    PyErr_Clear();
    return "<unprintable>";
  }
  return utf8;
}

void release_object(void* object) {
  if (Py_IsInitialized()) {
    PyGILState_STATE state = PyGILState_Ensure();
    Py_DECREF(static_cast<PyObject*>(object));
    PyGILState_Release(state);
  }
}

std::string callable_repr(PyObject* object) {
  Ref name = Ref::steal(PyObject_GetAttrString(object, "__qualname__"));
  if (!name) {
    PyErr_Clear();
    return "<" + str_of(object) + ">";
  }
  return "<" + str_of(name.get()) + "()>";
}

}  // namespace

config::Value to_config_value(PyObject* object, bool keep_object) {
  if (object == Py_None) return std::monostate{};
  if (keep_object && PyDict_Check(object)) {
    Py_INCREF(object);
    return config::Callable{std::shared_ptr<void>(object, release_object), repr_of(object)};
  }
  if (PyBool_Check(object)) return object == Py_True;
  if (PyLong_Check(object)) {
    int overflow = 0;
    long long value = PyLong_AsLongLongAndOverflow(object, &overflow);
    if (overflow == 0 && !(value == -1 && PyErr_Occurred())) return static_cast<int64_t>(value);
    PyErr_Clear();
    return str_of(object);
  }
  if (PyFloat_Check(object)) return PyFloat_AsDouble(object);
  if (PyUnicode_Check(object)) return str_of(object);
  if (PyList_Check(object) || PyTuple_Check(object)) {
    config::StringList list;
    Ref fast = Ref::steal(PySequence_Fast(object, "sequence"));
    Py_ssize_t size = PySequence_Fast_GET_SIZE(fast.get());
    for (Py_ssize_t i = 0; i < size; ++i) list.push_back(str_of(PySequence_Fast_GET_ITEM(fast.get(), i)));
    return list;
  }
  if (PyDict_Check(object)) {
    config::StringMap map;
    PyObject *key, *value;
    Py_ssize_t position = 0;
    while (PyDict_Next(object, &position, &key, &value)) map.emplace_back(str_of(key), str_of(value));
    return map;
  }
  if (PyCallable_Check(object)) {
    Py_INCREF(object);
    return config::Callable{std::shared_ptr<void>(object, release_object), callable_repr(object)};
  }
  return str_of(object);
}

}  // namespace narwhal::py
