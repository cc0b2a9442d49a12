#include "module/python_log.h"

#include <atomic>
#include <mutex>
#include <string_view>
#include <utility>
#include <vector>

#include "log/logger.h"
#include "module/hooks.h"
#include "python/pyref.h"

namespace narwhal::module {
namespace {

// How deep this thread is inside the Python logger. A line logged from inside (C++ code the
// logger's Python calls into, a Python signal handler) goes back into Python up to a few
// levels, then to the file: no unbounded recursion. Not a boolean because under gevent every
// greenlet of the worker shares the thread: one suspended inside a handler that yields (a
// socket handler) must not divert the other greenlets' lines.
constexpr int kMaxDepth = 4;
thread_local int t_depth = 0;
// Set where a line must go to the file (configuring, reporting a failure of the logger).
thread_local bool t_to_file = false;

struct Inside {
  Inside() { ++t_depth; }
  ~Inside() { --t_depth; }
  Inside(const Inside&) = delete;
  Inside& operator=(const Inside&) = delete;
};

struct ToFile {
  ToFile() : previous(t_to_file) { t_to_file = true; }
  ~ToFile() { t_to_file = previous; }
  ToFile(const ToFile&) = delete;
  ToFile& operator=(const ToFile&) = delete;
  const bool previous;
};

bool python_unusable() { return t_to_file || t_depth >= kMaxDepth || !Py_IsInitialized() || _Py_IsFinalizing(); }

const char* method_name(log::Level level) {
  switch (level) {
    case log::Level::Debug: return "debug";
    case log::Level::Info: return "info";
    case log::Level::Warning: return "warning";
    case log::Level::Error: return "error";
    case log::Level::Critical: return "critical";
  }
  return "info";
}

log::Level level_from_python(long number) {
  return number >= 50 ? log::Level::Critical
         : number >= 40 ? log::Level::Error
         : number >= 30 ? log::Level::Warning
         : number >= 20 ? log::Level::Info
                        : log::Level::Debug;
}

class PythonSink final : public log::LineSink {
 public:
  bool active() const { return static_cast<bool>(logger_); }

  // With the GIL.
  void set(py::Ref module, py::Ref logger) {
    module_ = std::move(module);
    logger_ = std::move(logger);
  }
  void clear() {
    logger_.reset();
    module_.reset();
  }

  bool line(log::Level level, std::string_view message, bool /*exception*/) override {
    if (!logger_ || python_unusable()) return false;
    if (PyGILState_Check()) return emit(level, message);
    if (log::thread_never_waits()) {
      std::lock_guard<std::mutex> lock(pending_mutex_);
      pending_.emplace_back(level, std::string(message));
      pending_flag_.store(true, std::memory_order_release);
      return true;
    }
    PyGILState_STATE gil = PyGILState_Ensure();
    const bool sent = emit(level, message);
    PyGILState_Release(gil);
    return sent;
  }

  void reopen() override {
    if (!logger_ || python_unusable()) return;
    if (PyGILState_Check()) return reopen_now();
    if (log::thread_never_waits()) {
      reopen_flag_.store(true, std::memory_order_release);
      pending_flag_.store(true, std::memory_order_release);
      return;
    }
    PyGILState_STATE gil = PyGILState_Ensure();
    reopen_now();
    PyGILState_Release(gil);
  }

  // With the GIL (the gthread loop's Python turn).
  void drain() override {
    if (!logger_ || python_unusable() || !pending_flag_.load(std::memory_order_acquire)) return;
    Inside inside;
    drain_pending();
  }

  // With the GIL (every worker type calls its access hook holding it).
  void access(const workers::AccessEntry& entry) {
    if (!logger_) return;
    py::ErrorSaver saved;
    py::Ref arguments = access_arguments(entry);
    py::Ref result;
    {
      Inside inside;
      drain_pending();
      static PyObject* const name = PyUnicode_InternFromString("access");
      if (arguments) result = py::Ref::steal(PyObject_Call(function(name).get(), arguments.get(), nullptr));
    }
    if (!result) log::logger().error("Exception in the Python access log\n" + py::format_exception());
  }

 private:
  // With the GIL.
  bool emit(log::Level level, std::string_view message) {
    py::ErrorSaver saved;  // a caller's pending exception is not this call's business
    Inside inside;
    drain_pending();
    if (!call_level(level, message)) {
      // The line goes to the file (the caller writes it) with why Python did not take it.
      ToFile to_file;
      log::logger().error("Python logging failed; writing to the error log instead\n" + py::format_exception());
      return false;
    }
    return true;
  }

  bool call_level(log::Level level, std::string_view message) {
    py::Ref text = py::Ref::steal(
        PyUnicode_DecodeUTF8(message.data(), static_cast<Py_ssize_t>(message.size()), "replace"));
    if (!text) return false;
    py::Ref result = py::Ref::steal(PyObject_CallMethod(logger_.get(), method_name(level), "O", text.get()));
    return static_cast<bool>(result);
  }

  void reopen_now() {
    py::ErrorSaver saved;
    Inside inside;
    reopen_flag_.store(false, std::memory_order_relaxed);
    static PyObject* const name = PyUnicode_InternFromString("reopen");
    py::Ref result = py::Ref::steal(PyObject_CallOneArg(function(name).get(), logger_.get()));
    if (!result) {
      ToFile to_file;
      log::logger().error("Python logging: reopen_files failed\n" + py::format_exception());
    }
  }

  // With the GIL, inside: what threads that could not wait left behind.
  void drain_pending() {
    if (!pending_flag_.load(std::memory_order_acquire)) return;
    std::vector<std::pair<log::Level, std::string>> lines;
    {
      std::lock_guard<std::mutex> lock(pending_mutex_);
      lines.swap(pending_);
      pending_flag_.store(false, std::memory_order_release);
    }
    for (const auto& [level, message] : lines) {
      if (!call_level(level, message)) {
        PyErr_Clear();
        ToFile to_file;
        log::logger().write_line_only(level, message);
      }
    }
    if (reopen_flag_.load(std::memory_order_acquire)) reopen_now();
  }

  py::Ref function(PyObject* name) {
    py::Ref callable = py::Ref::steal(PyObject_GetAttr(module_.get(), name));
    if (!callable) PyErr_Clear();
    return callable ? callable : py::Ref::borrow(Py_None);
  }

  py::Ref access_arguments(const workers::AccessEntry& entry) {
    auto latin1 = [](std::string_view text) {
      return py::Ref::steal(PyUnicode_DecodeLatin1(text.data(), static_cast<Py_ssize_t>(text.size()), nullptr));
    };
    const http::RequestHead& head = *entry.head;
    py::Ref headers = request_header_pairs(head);
    if (!headers) return {};
    py::Ref method = latin1(head.method), target = latin1(head.target), remote = latin1(entry.remote_addr);
    if (!method || !target || !remote) return {};
    PyObject* response_headers = entry.response_headers ? entry.response_headers : Py_None;
    PyObject* environ = entry.environ ? entry.environ : Py_None;
    return py::Ref::steal(Py_BuildValue("(OOO(ii)OOiOOKLL)", logger_.get(), method.get(), target.get(),
                                        head.version_major, head.version_minor, headers.get(), remote.get(),
                                        entry.status, response_headers, environ,
                                        static_cast<unsigned long long>(entry.body_bytes),
                                        static_cast<long long>(entry.duration_us),
                                        static_cast<long long>(entry.queue_us)));
  }

  py::Ref module_;  // narwhal._logging
  py::Ref logger_;  // the logger object (gunicorn's Logger interface)
  std::mutex pending_mutex_;
  std::vector<std::pair<log::Level, std::string>> pending_;
  std::atomic<bool> pending_flag_{false};
  std::atomic<bool> reopen_flag_{false};
};

// Never destroyed (like the C++ logger): lines may be logged from static destructors.
PythonSink& sink() {
  alignas(PythonSink) static unsigned char storage[sizeof(PythonSink)];
  static PythonSink* instance = ::new (storage) PythonSink();
  return *instance;
}

bool is_default_class(const config::Value& value) {
  const auto* text = std::get_if<std::string>(&value);
  if (!text) return false;  // a class object from a config file
  for (std::string_view name : {"gunicorn.glogging.Logger", "simple", "egg:gunicorn#simple", "gunicorn#simple",
                                "gunicorn.instrument.statsd.Statsd"}) {
    if (*text == name) return true;
  }
  return false;
}

}  // namespace

bool python_logging_wanted(const config::Config& cfg) {
  if (cfg.is_set("logconfig") && !cfg.get_string("logconfig").empty()) return true;
  if (cfg.is_set("logconfig_json") && !cfg.get_string("logconfig_json").empty()) return true;
  const config::Value& dict = cfg.get("logconfig_dict");
  if (const auto* object = std::get_if<config::Callable>(&dict)) {
    if (object->object && PyObject_IsTrue(static_cast<PyObject*>(object->object.get())) == 1) return true;
    PyErr_Clear();
  } else if (const auto* map = std::get_if<config::StringMap>(&dict); map && !map->empty()) {
    return true;
  }
  return !is_default_class(cfg.get("logger_class"));
}

bool configure_python_logging(PyObject* values, std::string* error) {
  ToFile to_file;  // what the configuration logs meanwhile goes to the file
  py::Ref module = py::Ref::steal(PyImport_ImportModule("narwhal._logging"));
  py::Ref logger = module ? py::Ref::steal(PyObject_CallMethod(module.get(), "configure", "O", values)) : py::Ref();
  if (!logger) {
    *error = py::exception_message();
    if (error->empty()) *error = "the log configuration can't be applied";
    return false;
  }
  py::Ref level = py::Ref::steal(PyObject_CallMethod(module.get(), "error_level", "O", logger.get()));
  long number = level ? PyLong_AsLong(level.get()) : 10;
  PyErr_Clear();
  sink().set(std::move(module), std::move(logger));
  log::logger().set_level(level_from_python(number));
  log::logger().set_sink(&sink());
  return true;
}

bool python_logging_active() { return sink().active(); }

void disable_python_logging() {
  log::logger().set_sink(nullptr);
  sink().clear();
}

std::function<void(const workers::AccessEntry&)> python_access_hook() {
  if (!sink().active()) return {};
  return [](const workers::AccessEntry& entry) { sink().access(entry); };
}

}  // namespace narwhal::module
