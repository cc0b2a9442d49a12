// Start-up of a narwhal process: settings (defaults < config file < *_CMD_ARGS < CLI), the
// app, the listeners, then the arbiter. Python is used only to run the config file and import
// the app (narwhal/_glue.py).
#pragma once

#include <string>
#include <vector>

namespace narwhal {

// The whole `narwhal` command. Returns the process exit status. Holds the GIL.
int run_main(const std::vector<std::string>& argv);

}  // namespace narwhal
