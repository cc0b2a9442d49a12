// The worker's half of the control socket's `dump PID` (docs/control.md): narwhal._server's
// SIGWINCH handler formats the stacks of every thread and hands them to _core.publish_dump,
// which writes them into the worker's scoreboard for the master.
#pragma once

#include <Python.h>

#include "workers/scoreboard.h"

namespace narwhal::module {

// In the worker, once: where publish_dump writes (null: nowhere).
void set_dump_target(workers::Scoreboard* scoreboard);
bool add_control_functions(PyObject* module);

}  // namespace narwhal::module
