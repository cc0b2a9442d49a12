// Start-up of a narwhal process: settings (defaults < config file < *_CMD_ARGS < CLI), the
// app, the listeners, then the arbiter. Python is used only to run the config file and import
// the app (narwhal/_glue.py).
#pragma once

#include <string>
#include <vector>

#include "python/pyref.h"

namespace narwhal {

// The whole `narwhal` command. Returns the process exit status. Holds the GIL.
// `application` (borrowed; null for the command): an embedding narwhal.app.base.BaseApplication
// whose cfg gives the settings and whose wsgi() gives the app; `argv` is then sys.argv, which a
// USR2 upgrade re-executes.
int run_main(const std::vector<std::string>& argv, PyObject* application = nullptr);

}  // namespace narwhal
