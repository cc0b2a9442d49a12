#include <string>

#include "python/pyref.h"

namespace narwhal::py {

std::string format_exception() {
  PyObject *type, *value, *traceback;
  PyErr_Fetch(&type, &value, &traceback);
  if (type == nullptr) return "";
  PyErr_NormalizeException(&type, &value, &traceback);
  Ref type_ref = Ref::steal(type), value_ref = Ref::steal(value), tb_ref = Ref::steal(traceback);
  std::string text;
  Ref module = Ref::steal(PyImport_ImportModule("traceback"));
  if (module) {
    Ref lines = Ref::steal(PyObject_CallMethod(module.get(), "format_exception", "OOO", type,
                                               value ? value : Py_None,
                                               traceback ? traceback : Py_None));
    if (lines) {
      Ref joined = Ref::steal(PyUnicode_Join(Ref::steal(PyUnicode_FromString("")).get(), lines.get()));
      if (joined) {
        const char* utf8 = PyUnicode_AsUTF8(joined.get());
        if (utf8) text = utf8;
      }
    }
  }
  PyErr_Clear();
  if (text.empty()) text = "(exception could not be formatted)";
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

std::string exception_message() {
  PyObject *type, *value, *traceback;
  PyErr_Fetch(&type, &value, &traceback);
  if (type == nullptr) return "";
  PyErr_NormalizeException(&type, &value, &traceback);
  Ref type_ref = Ref::steal(type), value_ref = Ref::steal(value), tb_ref = Ref::steal(traceback);
  Ref text = Ref::steal(PyObject_Str(value ? value : type));
  const char* utf8 = text ? PyUnicode_AsUTF8(text.get()) : nullptr;
  std::string message = utf8 ? utf8 : "(exception could not be formatted)";
  PyErr_Clear();
  return message;
}

}  // namespace narwhal::py
