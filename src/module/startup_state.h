// The state of a narwhal master between start-up, forks and reloads.
#pragma once

#include <string>
#include <vector>

#include "arbiter/arbiter.h"
#include "config/config.h"
#include "module/hooks.h"
#include "net/listener.h"
#include "python/pyref.h"

namespace narwhal::module {

struct Startup {
  config::Config cfg;
  std::string app_uri;
  py::Ref preloaded_app;
  std::vector<net::Listener> listeners;
  module::Hooks hooks;  // gunicorn's server hooks and the Python server/worker objects
  // --- arbiter wiring (signals): HUP reads the settings again from `argv` in `start_cwd`; USR2
  // re-executes them.
  std::vector<std::string> argv;
  std::string start_cwd;
};

// HUP (gunicorn's Arbiter.reload) and USR2 support, docs/signals.md.
void set_arbiter_options(const Startup& startup, arbiter::ArbiterOptions* options);
std::vector<std::string> reexec_argv(const std::vector<std::string>& argv);
bool reload_settings(Startup& startup, arbiter::ArbiterOptions* options);

}  // namespace narwhal::module
