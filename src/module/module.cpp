// narwhal._core: the extension module. Python calls main(argv) (the narwhal command) or
// run_application(application, argv) (embedding, module/embedding.cpp); everything else is C++.
#include <string>
#include <vector>

#include "module/control_glue.h"
#include "module/embedding.h"
#include "module/hooks.h"
#include "module/startup.h"
#include "python/pyref.h"
#include "asgi/channel.h"
#include "wsgi/objects.h"

namespace {

PyObject* core_main(PyObject*, PyObject* argv_object) {
  narwhal::py::Ref sequence = narwhal::py::Ref::steal(PySequence_Fast(argv_object, "argv must be a sequence"));
  if (!sequence) return nullptr;
  std::vector<std::string> argv;
  for (Py_ssize_t i = 0, n = PySequence_Fast_GET_SIZE(sequence.get()); i < n; ++i) {
    const char* text = PyUnicode_AsUTF8(PySequence_Fast_GET_ITEM(sequence.get(), i));
    if (!text) return nullptr;
    argv.emplace_back(text);
  }
  int status = narwhal::run_main(argv);
  std::fflush(stdout);
  std::fflush(stderr);
  return PyLong_FromLong(status);
}

PyMethodDef core_methods[] = {
    {"main", core_main, METH_O, "main(argv) -> exit status: runs the narwhal command"},
    {nullptr, nullptr, 0, nullptr}};

PyModuleDef core_module = {PyModuleDef_HEAD_INIT, "narwhal._core", "narwhal's C++ core", -1, core_methods,
                           nullptr, nullptr, nullptr, nullptr};

}  // namespace

PyMODINIT_FUNC PyInit__core() {
  PyObject* module = PyModule_Create(&core_module);
  if (!module) return nullptr;
  PyModule_AddStringConstant(module, "__version__", NARWHAL_VERSION);
  if (!narwhal::wsgi::register_types(module) || !narwhal::asgi::register_types(module) || !narwhal::module::add_log_functions(module) ||
      !narwhal::module::add_embedding_functions(module) || !narwhal::module::add_control_functions(module)) {
    Py_DECREF(module);
    return nullptr;
  }
  return module;
}
