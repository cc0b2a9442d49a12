// Python values from a config file → config::Value (the settings table validates them).
#pragma once

#include "config/config.h"
#include "python/pyref.h"

namespace narwhal::py {

// Never fails: unknown types become their str(); a Python error is cleared. With `keep_object`
// (Setting::python_value) a dict is kept as the object itself, in a config::Callable holder.
config::Value to_config_value(PyObject* object, bool keep_object = false);

}  // namespace narwhal::py
