// narwhal._core's functions for narwhal.app.base (embedding: gunicorn's "custom application"):
// run_application, validate_setting, default_settings, print_config, parse_command_line,
// default_config_file. See docs/embedding.md.
#pragma once

#include "python/pyref.h"

namespace narwhal::module {

// Adds them to the module; false with a Python error set on failure.
bool add_embedding_functions(PyObject* module);

}  // namespace narwhal::module
