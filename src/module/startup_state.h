// The state of a narwhal master between start-up, forks and reloads.
#pragma once

#include <string>
#include <vector>

#include "arbiter/arbiter.h"
#include "config/config.h"
#include "module/hooks.h"
#include "module/tls_setup.h"
#include "net/listener.h"
#include "python/pyref.h"

namespace narwhal::module {

struct Startup {
  config::Config cfg;
  // What to serve: an import string (APP_MODULE, wsgi_app), the absolute PasteDeploy config URI
  // when cfg's `paste` is set, or — embedding, `application` set — what application.wsgi()
  // returns (narwhal.app.base.BaseApplication, gunicorn's "custom application"; app_uri is "").
  std::string app_uri;
  py::Ref application;
  py::Ref preloaded_app;
  std::vector<net::Listener> listeners;
  module::Hooks hooks;  // gunicorn's server hooks and the Python server/worker objects
  TlsState tls;         // certfile set: the context the workers serve TLS with
  // --- arbiter wiring (signals): HUP reads the settings again from `argv` in `start_cwd`; USR2
  // re-executes them.
  std::vector<std::string> argv;
  std::string start_cwd;
};

// Every settings source into `startup` (cfg, app_uri): the command line's, or the embedding
// application's. Returns -1 to go on, else the exit status.
int read_settings(Startup& startup, const std::vector<std::string>& argv, PyObject* application, bool reload);

// gunicorn's default_proc_name: the APP_MODULE, the PasteDeploy file, or (embedding) the setting.
std::string default_proc_name(const Startup& startup);

// HUP (gunicorn's Arbiter.reload) and USR2 support, docs/signals.md.
void set_arbiter_options(const Startup& startup, arbiter::ArbiterOptions* options);
std::vector<std::string> reexec_argv(const std::vector<std::string>& argv);
bool reload_settings(Startup& startup, arbiter::ArbiterOptions* options);

}  // namespace narwhal::module
