// Logging through Python `logging` when the user asks for it (logconfig, logconfig_dict,
// logconfig_json, or a logger_class of their own): gunicorn's Logger object (narwhal/glogging.py
// or the user's class) is created in the master (narwhal/_logging.py configure) at start-up and
// on each HUP; workers inherit it across fork. It then receives:
//   - every error line of the process (log::Logger's sink: master, workers, every thread), and
//   - every finished request (WorkerHooks::access: logger.access(resp, req, environ, request_time)).
// Without those settings nothing here is installed: the C++ logger writes the lines and no
// Python is called per request.
//
// GIL rules (the sink may be called on any thread): a thread holding the GIL calls Python at
// once; a thread that may wait for the GIL takes it (it holds no lock a GIL holder could wait
// for: every C++ mutex of the workers is released before logging); a thread marked
// log::set_thread_never_waits (the gthread loop) queues its lines, which the next Python call
// of the process or the loop's next GIL turn (≤ 100 ms) sends. A line emitted from deep inside
// the Python logger (re-entry beyond a few levels), while the configuration is applied, while
// the interpreter finalizes, or when the Python call fails, is written by the C++ logger to the
// error log file instead, so nothing can recurse, deadlock or be lost.
#pragma once

#include <string>

#include "config/config.h"
#include "workers/worker_hooks.h"

namespace narwhal::module {

// Whether the settings ask for Python logging.
bool python_logging_wanted(const config::Config& cfg);

// In the master, with the GIL, after log::logger().open(): creates the logger object from
// `values` (the settings as Python sees them) and routes error lines to it. On failure returns
// false with *error naming the setting; the previous configuration (if any) stays in place.
bool configure_python_logging(PyObject* values, std::string* error);
// Whether a Python logger receives the lines now.
bool python_logging_active();
// Back to the C++ logger (a HUP removed the settings).
void disable_python_logging();

// The worker's access hook (empty when Python logging is off).
std::function<void(const workers::AccessEntry&)> python_access_hook();

}  // namespace narwhal::module
