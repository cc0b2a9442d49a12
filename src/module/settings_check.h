// What start-up (and each HUP) checks once every settings source is read: the worker class
// resolves to one narwhal can run, no refused setting is set, and each setting that has no
// effect yet gets one warning. Nothing accepted is silently ignored (config::Setting::support).
#pragma once

#include <string>

#include "config/config.h"
#include "workers/registry.h"

namespace narwhal::module {

// worker_class and threads through the worker registry (a Python class object is refused).
workers::WorkerClass worker_class(const config::Config& cfg);

// The first reason to refuse these settings, as one line without "Error: "; "" when none.
std::string refusal(const config::Config& cfg);

// One WARNING per setting narwhal ignores that is set to a value other than its default.
void warn_ignored_settings(const config::Config& cfg);

}  // namespace narwhal::module
