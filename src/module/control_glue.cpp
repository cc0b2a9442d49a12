#include "module/control_glue.h"

namespace narwhal::module {
namespace {

workers::Scoreboard* g_dump_target = nullptr;  // the worker's own scoreboard (set after fork)

PyObject* publish_dump(PyObject*, PyObject* text_object) {
  Py_ssize_t size = 0;
  const char* text = PyUnicode_AsUTF8AndSize(text_object, &size);
  if (!text) return nullptr;
  if (g_dump_target) g_dump_target->publish_dump(std::string_view(text, static_cast<size_t>(size)));
  return PyBool_FromLong(g_dump_target != nullptr);
}

// A terminal resize sends SIGWINCH to the whole process group: only a dump the master asked
// for is worth formatting.
PyObject* dump_wanted(PyObject*, PyObject*) {
  const bool wanted = g_dump_target && g_dump_target->dump_requested.load(std::memory_order_acquire) !=
                                           g_dump_target->dump_done.load(std::memory_order_relaxed);
  return PyBool_FromLong(wanted);
}

PyMethodDef control_methods[] = {
    {"dump_wanted", dump_wanted, METH_NOARGS, "dump_wanted() -> bool: the master asked for a stack dump"},
    {"publish_dump", publish_dump, METH_O,
     "publish_dump(text) -> bool: the answer to the control socket's `dump PID` (worker only)"},
    {nullptr, nullptr, 0, nullptr}};

}  // namespace

void set_dump_target(workers::Scoreboard* scoreboard) { g_dump_target = scoreboard; }

bool add_control_functions(PyObject* module) { return PyModule_AddFunctions(module, control_methods) == 0; }

}  // namespace narwhal::module
