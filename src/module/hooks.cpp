#include "module/hooks.h"

#include <unistd.h>

#include "log/logger.h"

namespace narwhal::module {
namespace {
py::Ref latin1(std::string_view text) {
  return py::Ref::steal(PyUnicode_DecodeLatin1(text.data(), static_cast<Py_ssize_t>(text.size()), nullptr));
}
}  // namespace

// Latin-1, as gunicorn (and PEP 3333) decode the request head.
py::Ref request_header_pairs(const http::RequestHead& head) {
  py::Ref headers = py::Ref::steal(PyList_New(static_cast<Py_ssize_t>(head.headers.size())));
  if (!headers) return {};
  for (size_t i = 0; i < head.headers.size(); ++i) {
    py::Ref name = latin1(head.headers[i].name), value = latin1(head.headers[i].value);
    if (!name || !value) return {};
    PyObject* pair = PyTuple_Pack(2, name.get(), value.get());
    if (!pair) return {};
    PyList_SET_ITEM(headers.get(), static_cast<Py_ssize_t>(i), pair);
  }
  return headers;
}
namespace {

constexpr const char* kHookNames[] = {
    "on_starting", "on_reload",   "when_ready",  "pre_fork",    "post_fork",
    "post_worker_init", "worker_int", "worker_abort", "pre_exec", "pre_request",
    "post_request", "child_exit", "worker_exit", "nworkers_changed", "on_exit"};
static_assert(std::size(kHookNames) == static_cast<size_t>(Hook::Count));

const char* name_of(Hook hook) { return kHookNames[static_cast<size_t>(hook)]; }

PyObject* string_list(const config::StringList& list) {
  PyObject* result = PyList_New(static_cast<Py_ssize_t>(list.size()));
  if (!result) return nullptr;
  for (size_t i = 0; i < list.size(); ++i) {
    PyObject* item = PyUnicode_DecodeUTF8(list[i].data(), static_cast<Py_ssize_t>(list[i].size()), "replace");
    if (!item) {
      Py_DECREF(result);
      return nullptr;
    }
    PyList_SET_ITEM(result, static_cast<Py_ssize_t>(i), item);
  }
  return result;
}

PyObject* log_function(PyObject*, PyObject* args) {
  int level = 0;
  const char* text = nullptr;
  Py_ssize_t length = 0;
  if (!PyArg_ParseTuple(args, "is#", &level, &text, &length)) return nullptr;
  log::Level as_level = level >= 50   ? log::Level::Critical
                        : level >= 40 ? log::Level::Error
                        : level >= 30 ? log::Level::Warning
                        : level >= 20 ? log::Level::Info
                                      : log::Level::Debug;
  if (log::logger().enabled(as_level)) log::logger().write(as_level, std::string_view(text, static_cast<size_t>(length)));
  Py_RETURN_NONE;
}

PyObject* reopen_logs_function(PyObject*, PyObject*) {
  log::logger().reopen();
  Py_RETURN_NONE;
}

PyMethodDef log_methods[] = {
    {"log", log_function, METH_VARARGS, "log(level, text): one line in narwhal's error log"},
    {"reopen_logs", reopen_logs_function, METH_NOARGS, "reopen narwhal's log files (USR1)"},
    {nullptr, nullptr, 0, nullptr}};

}  // namespace

PyObject* to_python(const config::Value& value) {
  PyObject* result = std::visit(
      [](const auto& item) -> PyObject* {
        using T = std::decay_t<decltype(item)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          Py_RETURN_NONE;
        } else if constexpr (std::is_same_v<T, bool>) {
          return PyBool_FromLong(item);
        } else if constexpr (std::is_same_v<T, int64_t>) {
          return PyLong_FromLongLong(item);
        } else if constexpr (std::is_same_v<T, double>) {
          return PyFloat_FromDouble(item);
        } else if constexpr (std::is_same_v<T, std::string>) {
          return PyUnicode_DecodeUTF8(item.data(), static_cast<Py_ssize_t>(item.size()), "replace");
        } else if constexpr (std::is_same_v<T, config::StringList>) {
          return string_list(item);
        } else if constexpr (std::is_same_v<T, config::StringMap>) {
          PyObject* dict = PyDict_New();
          for (const auto& [key, text] : item) {
            if (!dict) break;
            py::Ref v = py::Ref::steal(PyUnicode_DecodeUTF8(text.data(), static_cast<Py_ssize_t>(text.size()), "replace"));
            if (!v || PyDict_SetItemString(dict, key.c_str(), v.get()) < 0) {
              Py_CLEAR(dict);
            }
          }
          return dict;
        } else {  // config::Callable: the object the config file gave
          PyObject* object = static_cast<PyObject*>(item.object.get());
          if (!object) Py_RETURN_NONE;
          Py_INCREF(object);
          return object;
        }
      },
      value);
  if (!result) {
    PyErr_Clear();
    Py_RETURN_NONE;
  }
  return result;
}

bool add_log_functions(PyObject* module) { return PyModule_AddFunctions(module, log_methods) == 0; }

PyObject* settings_to_python(const config::Config& cfg) {
  py::Ref values = py::Ref::steal(PyDict_New());
  if (!values) return nullptr;
  for (const config::Setting& setting : config::settings_table()) {
    py::Ref value = py::Ref::steal(to_python(cfg.get(setting.name)));
    if (PyDict_SetItemString(values.get(), setting.name.c_str(), value.get()) < 0) return nullptr;
  }
  return values.release();
}

bool Hooks::init(const config::Config& cfg, const std::string& app_uri, const std::string& proc_name) {
  module_ = py::Ref::steal(PyImport_ImportModule("narwhal._server"));
  if (!module_) {
    log::logger().error("Can't import narwhal._server\n" + py::format_exception());
    return false;
  }
  py::Ref values = py::Ref::steal(settings_to_python(cfg));
  if (!values) {
    log::logger().error("Can't convert the settings for the hooks\n" + py::format_exception());
    return false;
  }
  if (!cfg.is_set("proc_name")) {  // gunicorn: the default proc_name is the app uri (or the paste file)
    py::Ref name = py::Ref::steal(PyUnicode_FromString(proc_name.c_str()));
    if (name) PyDict_SetItemString(values.get(), "default_proc_name", name.get());
    PyErr_Clear();
  }
  server_ = py::Ref::steal(PyObject_CallMethod(module_.get(), "Server", "Os", values.get(), app_uri.c_str()));
  if (!server_) {
    log::logger().error("Can't create the hooks' server object\n" + py::format_exception());
    return false;
  }
  for (size_t i = 0; i < hooks_.size(); ++i) {
    hooks_[i].reset();  // init runs again after a reload (HUP): unset hooks go away
    const config::Value& value = cfg.get(kHookNames[i]);
    const auto* callable = std::get_if<config::Callable>(&value);
    if (!callable || !callable->object) continue;
    hooks_[i] = py::Ref::steal(PyObject_CallMethod(module_.get(), "adapt_hook", "sO", kHookNames[i],
                                                   static_cast<PyObject*>(callable->object.get())));
    if (!hooks_[i]) log::logger().error(std::string("Invalid hook ") + kHookNames[i] + "\n" + py::format_exception());
  }
  return true;
}

void Hooks::call(Hook which, PyObject* args) {
  py::Ref arguments = py::Ref::steal(args);
  const py::Ref& callable = hook(which);
  if (!callable || !arguments) {
    PyErr_Clear();
    return;
  }
  py::Ref result = py::Ref::steal(PyObject_Call(callable.get(), arguments.get(), nullptr));
  if (!result) log::logger().error(std::string("Exception in ") + name_of(which) + " hook\n" + py::format_exception());
}

void Hooks::call_with_server(Hook which) {
  if (!has(which) || !server_) return;
  call(which, PyTuple_Pack(1, server_.get()));
}

void Hooks::nworkers_changed(int new_value, int old_value) {
  if (server_) {
    py::Ref number = py::Ref::steal(PyLong_FromLong(new_value));
    if (!number || PyObject_SetAttrString(server_.get(), "num_workers", number.get()) < 0) PyErr_Clear();
  }
  if (!has(Hook::NworkersChanged)) return;
  py::Ref old_object = old_value < 0 ? py::Ref::borrow(Py_None) : py::Ref::steal(PyLong_FromLong(old_value));
  call(Hook::NworkersChanged, Py_BuildValue("(OiO)", server_.get(), new_value, old_object.get()));
}

void Hooks::pre_fork(int age) {
  py::Ref worker = py::Ref::steal(
      PyObject_CallMethod(module_.get(), "Worker", "Oii", server_.get(), age, static_cast<int>(getpid())));
  if (!worker) {
    log::logger().error("Can't create the hooks' worker object\n" + py::format_exception());
    return;
  }
  if (has(Hook::PreFork)) call(Hook::PreFork, PyTuple_Pack(2, server_.get(), worker.get()));
  if (has(Hook::ChildExit)) pending_workers_[age] = worker;
}

void Hooks::child_exit(pid_t pid, int age) {
  auto it = pending_workers_.find(age);
  py::Ref worker;
  if (it != pending_workers_.end()) {
    worker = it->second;
    pending_workers_.erase(it);
  } else {
    worker = py::Ref::steal(
        PyObject_CallMethod(module_.get(), "Worker", "Oii", server_.get(), age, static_cast<int>(getpid())));
  }
  if (!worker) {
    PyErr_Clear();
    return;
  }
  py::Ref pid_object = py::Ref::steal(PyLong_FromLong(pid));
  if (pid_object) PyObject_SetAttrString(worker.get(), "pid", pid_object.get());
  PyObject_SetAttrString(worker.get(), "alive", Py_False);
  PyErr_Clear();
  call(Hook::ChildExit, PyTuple_Pack(2, server_.get(), worker.get()));
}

void Hooks::add_arbiter_callbacks(arbiter::Callbacks& callbacks) {
  // Always installed (a few calls per fork in the master): a reload may add hooks.
  // gunicorn's Arbiter.start runs on_starting after the Starting line and the pid file, before
  // the signal handlers and the listeners; on_exit is the end of Arbiter.halt.
  callbacks.on_starting = [this] { on_starting(); };
  callbacks.when_ready = [this] { when_ready(); };
  callbacks.on_exit = [this] { on_exit(); };
  callbacks.pre_fork = [this](int age) {
    if (has(Hook::PreFork) || has(Hook::ChildExit)) pre_fork(age);
  };
  callbacks.child_exit = [this](pid_t pid, int age) {
    if (has(Hook::ChildExit)) child_exit(pid, age);
  };
  callbacks.nworkers_changed = [this](int new_value, int old_value) { nworkers_changed(new_value, old_value); };
  // USR2: in the child that is about to exec the new master (forked without PyOS_BeforeFork).
  callbacks.pre_exec = [this] {
    if (!has(Hook::PreExec)) return;
    PyOS_AfterFork_Child();
    pre_exec();
  };
}

void Hooks::begin_worker(const arbiter::WorkerContext& context) {
  // Worker objects made in the master (pre_fork) stay there; the child makes its own.
  pending_workers_.clear();
  if (!server_) return;
  worker_ = py::Ref::steal(PyObject_CallMethod(module_.get(), "Worker", "Oiii", server_.get(), context.age,
                                               static_cast<int>(context.ppid), static_cast<int>(context.pid)));
  if (!worker_) {
    log::logger().error("Can't create the hooks' worker object\n" + py::format_exception());
    return;
  }
  if (has(Hook::PostFork)) call(Hook::PostFork, PyTuple_Pack(2, server_.get(), worker_.get()));
}

void Hooks::set_app(PyObject* app) {
  if (!server_) return;
  py::Ref app_object = py::Ref::steal(PyObject_GetAttrString(server_.get(), "app"));
  if (!app_object || PyObject_SetAttrString(app_object.get(), "callable", app) < 0) PyErr_Clear();
}

void Hooks::install_worker_signals() {
  if (!worker_) return;
  PyObject* abort_hook = has(Hook::WorkerAbort) ? hook(Hook::WorkerAbort).get() : Py_None;
  PyObject* int_hook = has(Hook::WorkerInt) ? hook(Hook::WorkerInt).get() : Py_None;
  PyObject* exit_hook = has(Hook::WorkerExit) ? hook(Hook::WorkerExit).get() : Py_None;
  py::Ref result = py::Ref::steal(PyObject_CallMethod(module_.get(), "install_worker_signals", "OOOOO", worker_.get(),
                                                      server_.get(), abort_hook, int_hook, exit_hook));
  if (!result) log::logger().error("Can't install the worker's SIGABRT handler\n" + py::format_exception());
}

void Hooks::start_reloader(const config::StringList& extra_files) {
  if (!worker_) return;
  py::Ref files = py::Ref::steal(string_list(extra_files));
  py::Ref result = py::Ref::steal(PyObject_CallMethod(module_.get(), "start_reloader", "OO", worker_.get(), files.get()));
  if (!result) log::logger().error("Can't start the reloader\n" + py::format_exception());
}

void Hooks::post_worker_init() {
  if (!worker_) return;
  PyObject_SetAttrString(worker_.get(), "booted", Py_True);
  PyErr_Clear();
  if (has(Hook::PostWorkerInit)) call(Hook::PostWorkerInit, PyTuple_Pack(1, worker_.get()));
}

void Hooks::worker_exit() {
  if (!worker_ || !has(Hook::WorkerExit)) return;
  PyObject_SetAttrString(worker_.get(), "alive", Py_False);
  PyErr_Clear();
  call(Hook::WorkerExit, PyTuple_Pack(2, server_.get(), worker_.get()));
}

py::Ref Hooks::make_request(const http::RequestHead& head) {
  py::Ref headers = request_header_pairs(head);
  if (!headers) return {};
  py::Ref method = latin1(head.method), target = latin1(head.target);
  if (!method || !target) return {};
  return py::Ref::steal(PyObject_CallMethod(module_.get(), "Request", "OO(ii)O", method.get(), target.get(),
                                            head.version_major, head.version_minor, headers.get()));
}

py::Ref Hooks::pre_request(const http::RequestHead& head) {
  py::Ref request = make_request(head);
  if (!request) {
    log::logger().error("Can't build the pre_request hook's req\n" + py::format_exception());
    return request;
  }
  call(Hook::PreRequest, PyTuple_Pack(2, worker_.get(), request.get()));
  return request;
}

// `request` is pre_request's req (gunicorn passes the same object to both hooks), or null.
void Hooks::post_request(const http::RequestHead& head, const py::Ref& request_from_pre, PyObject* environ, int status) {
  py::Ref request = request_from_pre ? request_from_pre : make_request(head);
  py::Ref response = py::Ref::steal(PyObject_CallMethod(module_.get(), "Response", "i", status));
  if (!request || !response) {
    log::logger().error("Can't build the post_request hook's arguments\n" + py::format_exception());
    return;
  }
  call(Hook::PostRequest,
       PyTuple_Pack(4, worker_.get(), request.get(), environ ? environ : Py_None, response.get()));
}

workers::WorkerHooks Hooks::worker_hooks() {
  workers::WorkerHooks result;
  if (!worker_) return result;
  if (has(Hook::PreRequest)) result.pre_request = [this](const http::RequestHead& head) { return pre_request(head); };
  if (has(Hook::PostRequest)) {
    result.post_request = [this](const http::RequestHead& head, const py::Ref& request, PyObject* environ, int status) {
      post_request(head, request, environ, status);
    };
  }
  if (has(Hook::WorkerExit)) result.worker_exit = [this] { worker_exit(); };
  result.quit_in_python = has(Hook::WorkerInt) || has(Hook::WorkerExit);
  return result;
}

}  // namespace narwhal::module
