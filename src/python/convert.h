// Python values from a config file → config::Value (the settings table validates them).
#pragma once

#include "config/config.h"
#include "python/pyref.h"

namespace narwhal::py {

// Never fails: unknown types become their str(); a Python error is cleared.
config::Value to_config_value(PyObject* object);

}  // namespace narwhal::py
