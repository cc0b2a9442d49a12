// Reading the fields of an ASGI message the app sent (a dict, or any mapping).
#pragma once

#include "python/pyref.h"

namespace narwhal::asgi {

// message[key]: borrowed; null without an error when absent (null with an error otherwise).
inline PyObject* field_of(PyObject* message, PyObject* key) {
  if (PyDict_CheckExact(message)) return PyDict_GetItemWithError(message, key);
  PyObject* value = PyObject_GetItem(message, key);
  if (!value) {
    if (PyErr_ExceptionMatches(PyExc_KeyError)) PyErr_Clear();
    return nullptr;
  }
  Py_DECREF(value);  // the mapping keeps it (borrowed, as from a dict)
  return value;
}

// `value` is the str `interned` (the message types are compared by identity first).
inline bool same_text(PyObject* value, PyObject* interned) {
  return value == interned || (value && PyUnicode_Check(value) && PyUnicode_Compare(value, interned) == 0);
}

}  // namespace narwhal::asgi
