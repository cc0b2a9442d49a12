// narwhal._core's functions behind narwhal.app.base (gunicorn's "custom application"): the
// application's cfg.set() is validated, its settings printed and its command line parsed by the
// one settings table, and run() goes through the same start-up as the narwhal command.
#include "module/embedding.h"

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "config/validators.h"
#include "module/hooks.h"
#include "module/settings_sources.h"
#include "module/startup.h"
#include "python/convert.h"

namespace narwhal::module {
namespace {

std::optional<std::vector<std::string>> to_strings(PyObject* sequence_object) {
  py::Ref sequence = py::Ref::steal(PySequence_Fast(sequence_object, "expected a list of strings"));
  if (!sequence) return std::nullopt;
  std::vector<std::string> strings;
  for (Py_ssize_t i = 0, n = PySequence_Fast_GET_SIZE(sequence.get()); i < n; ++i) {
    const char* text = PyUnicode_AsUTF8(PySequence_Fast_GET_ITEM(sequence.get(), i));
    if (!text) return std::nullopt;
    strings.emplace_back(text);
  }
  return strings;
}

// run_application(application, argv) -> exit status. argv is sys.argv (re-executed by USR2).
PyObject* run_application(PyObject*, PyObject* args) {
  PyObject *application, *argv_object;
  if (!PyArg_ParseTuple(args, "OO", &application, &argv_object)) return nullptr;
  std::optional<std::vector<std::string>> argv = to_strings(argv_object);
  if (!argv) return nullptr;
  int status = run_main(*argv, application);
  std::fflush(stdout);
  std::fflush(stderr);
  return PyLong_FromLong(status);
}

// validate_setting(name, value) -> the value as the settings table stores it; AttributeError for
// an unknown name (gunicorn's Config.set), ValueError with the table's message for a bad value.
PyObject* validate_setting(PyObject*, PyObject* args) {
  const char* name;
  PyObject* value;
  if (!PyArg_ParseTuple(args, "sO", &name, &value)) return nullptr;
  if (!config::find_setting(name)) {
    PyErr_Format(PyExc_AttributeError, "No configuration setting for: %s", name);
    return nullptr;
  }
  config::Config cfg;
  if (auto error = cfg.set(name, py::to_config_value(value, config::find_setting(name)->python_value))) {
    PyErr_SetString(PyExc_ValueError, error->message.c_str());
    return nullptr;
  }
  return to_python(cfg.get(name));
}

// default_settings() -> {name: value}: every setting's default as this process computes it
// (WEB_CONCURRENCY, PORT, FORWARDED_ALLOW_IPS...).
PyObject* default_settings(PyObject*, PyObject*) {
  config::Config cfg;
  return settings_to_python(cfg);
}

// print_config(values) -> gunicorn's str(cfg) for the defaults with `values` applied.
PyObject* print_config(PyObject*, PyObject* values) {
  if (!PyDict_Check(values)) {
    PyErr_SetString(PyExc_TypeError, "print_config(values): values must be a dict");
    return nullptr;
  }
  config::Config cfg;
  if (!apply_config_values(cfg, values)) {
    PyErr_SetString(PyExc_ValueError, "invalid settings (printed on stderr)");
    return nullptr;
  }
  std::string text = cfg.print_config();
  return PyUnicode_DecodeUTF8(text.data(), static_cast<Py_ssize_t>(text.size()), "replace");
}

PyObject* system_exit(int status) {
  py::Ref code = py::Ref::steal(PyLong_FromLong(status));
  PyErr_SetObject(PyExc_SystemExit, code.get());
  return nullptr;
}

// The value argparse would store for one occurrence of a flag.
PyObject* cli_value(const config::Setting& setting, const std::string& text) {
  if (setting.action == config::Action::StoreTrue) return PyBool_FromLong(1);
  if (setting.action == config::Action::StoreFalse) return PyBool_FromLong(0);
  std::optional<int64_t> number;
  if (setting.cli_value == config::Setting::CliValue::Int) number = config::parse_int_decimal(text);
  if (setting.cli_value == config::Setting::CliValue::AutoInt) number = config::parse_auto_int(text);
  if (number) return PyLong_FromLongLong(*number);
  return PyUnicode_DecodeUTF8(text.data(), static_cast<Py_ssize_t>(text.size()), "replace");
}

// parse_command_line(args) -> ({name: value}, [positional, ...]): the narwhal command line (args
// without argv[0]) as gunicorn's argparse parser gives it to Application.init(parser, opts,
// args): only the flags given, append flags as lists. -h/--help and -v/--version print and raise
// SystemExit(0); a usage error prints it and raises SystemExit(2), as argparse does.
PyObject* parse_command_line(PyObject*, PyObject* args_object) {
  std::optional<std::vector<std::string>> args = to_strings(args_object);
  if (!args) return nullptr;
  config::CliResult cli = config::parse_cli(*args, SIZE_MAX);
  if (!cli.error.empty()) {
    std::fprintf(stderr, "usage: narwhal [OPTIONS] [APP_MODULE]\nnarwhal: error: %s\n", cli.error.c_str());
    return system_exit(2);
  }
  if (cli.help || cli.version) {
    if (cli.help) std::fputs(config::usage_text("narwhal").c_str(), stdout);
    if (cli.version) std::printf("narwhal (version %s)\n", NARWHAL_VERSION);
    std::fflush(stdout);
    return system_exit(0);
  }
  py::Ref values = py::Ref::steal(PyDict_New());
  if (!values) return nullptr;
  for (const auto& [name, text] : cli.values) {
    const config::Setting* setting = config::find_setting(name);
    py::Ref value = py::Ref::steal(cli_value(*setting, text));
    if (!value) return nullptr;
    if (setting->action == config::Action::Append) {
      PyObject* list = PyDict_GetItemString(values.get(), name.c_str());  // borrowed
      py::Ref created;
      if (!list) {
        created = py::Ref::steal(PyList_New(0));
        if (!created || PyDict_SetItemString(values.get(), name.c_str(), created.get()) < 0) return nullptr;
        list = created.get();
      }
      if (PyList_Append(list, value.get()) < 0) return nullptr;
    } else if (PyDict_SetItemString(values.get(), name.c_str(), value.get()) < 0) {
      return nullptr;
    }
  }
  py::Ref positional = py::Ref::steal(PyList_New(0));
  for (const std::string& arg : cli.positional) {
    py::Ref item = py::Ref::steal(PyUnicode_FromString(arg.c_str()));
    if (!positional || !item || PyList_Append(positional.get(), item.get()) < 0) return nullptr;
  }
  return Py_BuildValue("(OO)", values.get(), positional.get());
}

// default_config_file() -> "./narwhal.conf.py", "./gunicorn.conf.py" or None.
PyObject* default_config_file_function(PyObject*, PyObject*) {
  std::string path = default_config_file();
  if (path.empty()) Py_RETURN_NONE;
  return PyUnicode_FromString(path.c_str());
}

PyMethodDef embedding_methods[] = {
    {"run_application", run_application, METH_VARARGS,
     "run_application(application, argv) -> exit status: serves application.wsgi()"},
    {"validate_setting", validate_setting, METH_VARARGS,
     "validate_setting(name, value) -> the value as the settings table stores it"},
    {"default_settings", default_settings, METH_NOARGS, "default_settings() -> {name: default}"},
    {"print_config", print_config, METH_O, "print_config(values) -> the --print-config text"},
    {"parse_command_line", parse_command_line, METH_O,
     "parse_command_line(args) -> ({name: value}, positional): narwhal's command-line parser"},
    {"default_config_file", default_config_file_function, METH_NOARGS,
     "default_config_file() -> the config file read without -c, or None"},
    {nullptr, nullptr, 0, nullptr}};

}  // namespace

bool add_embedding_functions(PyObject* module) { return PyModule_AddFunctions(module, embedding_methods) == 0; }

}  // namespace narwhal::module
