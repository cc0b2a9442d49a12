// HUP and USR2 in the master: read the settings again, rebind, re-exec (docs/signals.md).
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "log/logger.h"
#include "module/settings_check.h"
#include "module/settings_sources.h"
#include "module/startup_state.h"

namespace narwhal::module {
namespace {

// `bind` changed on reload: addresses still wanted keep their socket (no connection refused
// meanwhile), new ones are opened, dropped ones closed. startup.listeners is the arbiter's
// vector: workers forked afterwards get the new set. Unchanged on failure.
bool rebind_listeners(Startup& startup, const config::Config& cfg, bool unlink_unix_sockets) {
  const config::StringList& old_binds = startup.cfg.get_list("bind");
  const config::StringList& binds = cfg.get_list("bind");
  auto kept = [&](const std::string& bind) {
    const auto it = std::find(old_binds.begin(), old_binds.end(), bind);
    const size_t index = static_cast<size_t>(it - old_binds.begin());
    return it != old_binds.end() && index < startup.listeners.size() ? index : std::string::npos;
  };
  config::StringList added;
  for (const std::string& bind : binds) {
    if (kept(bind) == std::string::npos) added.push_back(bind);
  }
  net::ListenOptions listen = listen_options(cfg);
  std::vector<net::Listener> opened;
  std::string error;
  if (!added.empty() && !net::open_listeners(added, listen, &opened, &error)) {
    log::logger().error("Reload: " + error);
    return false;
  }
  chown_unix_sockets(opened, cfg);
  std::vector<net::Listener> listeners;
  size_t next_opened = 0;
  for (const std::string& bind : binds) {
    const size_t index = kept(bind);
    listeners.push_back(index != std::string::npos ? std::move(startup.listeners[index])
                                                   : std::move(opened[next_opened++]));
  }
  std::vector<net::Listener> dropped;
  for (net::Listener& listener : startup.listeners) {
    if (listener.fd) dropped.push_back(std::move(listener));
  }
  net::close_listeners(dropped, unlink_unix_sockets);
  startup.listeners = std::move(listeners);
  return true;
}

}  // namespace

int read_settings(Startup& startup, const std::vector<std::string>& argv, PyObject* application, bool reload) {
  if (application == nullptr) return load_settings(argv, startup.cfg, &startup.app_uri);
  startup.application = py::Ref::borrow(application);
  return load_application_settings(application, reload, startup.cfg);
}

std::string default_proc_name(const Startup& startup) {
  if (startup.application) return startup.cfg.get_string("default_proc_name");
  if (startup.cfg.is_set("paste")) return startup.app_uri.substr(0, startup.app_uri.find('#'));
  return startup.app_uri;  // gunicorn's WSGIApplication.init: default_proc_name is the app uri
}

// The settings the master uses; also after each HUP.
void set_arbiter_options(const Startup& startup, arbiter::ArbiterOptions* options) {
  const config::Config& cfg = startup.cfg;
  options->workers = static_cast<int>(cfg.get_int("workers"));
  options->backlog_metric = cfg.get_bool("enable_backlog_metric") && cfg.is_set("statsd_host");
  options->timeout = static_cast<double>(cfg.get_int("timeout"));
  options->graceful_timeout = static_cast<double>(cfg.get_int("graceful_timeout"));
  options->proc_name = cfg.is_set("proc_name") ? cfg.get_string("proc_name") : default_proc_name(startup);
  options->version = NARWHAL_VERSION;
  options->worker_class = worker_class(cfg).display;  // resolved by load_settings
  options->pidfile = cfg.get_string("pidfile");
  options->control_socket = cfg.get_bool("control_socket_disable") ? "" : cfg.get_string("control_socket");
  options->control_socket_mode = static_cast<unsigned>(cfg.get_int("control_socket_mode"));
  options->metrics_bind = cfg.get_string("metrics_bind");
}

// USR2 runs the same command again: sys.executable with the script (gunicorn: START_CTX), or
// `-m narwhal` when started through narwhal.run().
std::vector<std::string> reexec_argv(const std::vector<std::string>& argv) {
  PyObject* executable = PySys_GetObject("executable");  // borrowed
  const char* program = executable ? PyUnicode_AsUTF8(executable) : nullptr;
  if (!program || !*program) {
    PyErr_Clear();
    return {};
  }
  std::vector<std::string> result{program};
  struct stat info;
  if (!argv.empty() && stat(argv[0].c_str(), &info) == 0 && S_ISREG(info.st_mode)) {
    result.push_back(argv[0]);
  } else {
    result.insert(result.end(), {"-m", "narwhal"});
  }
  if (!argv.empty()) result.insert(result.end(), argv.begin() + 1, argv.end());
  return result;
}

// gunicorn's Arbiter.reload: every settings source is read again exactly as at start-up (in the
// start-up directory: relative config paths keep their meaning), then raw_env, chdir and
// pythonpath, the log files, and the listeners if `bind` changed. Workers forked afterwards
// read startup.cfg, so they use the new settings and import the app again (unless preloaded).
bool reload_settings(Startup& startup, arbiter::ArbiterOptions* options) {
  Startup fresh;
  bool loaded = ::chdir(startup.start_cwd.c_str()) == 0 &&
                read_settings(fresh, startup.argv, startup.application.get(), true) < 0;
  if (!loaded || !set_environment(fresh.cfg) || !prepare_python_path(fresh.cfg)) {
    PyErr_Clear();
    prepare_python_path(startup.cfg);  // back to the current chdir
    return false;
  }
  const config::Config& cfg = fresh.cfg;
  std::string error;
  if (!open_logs(cfg, fresh.app_uri, &error)) {
    log::logger().error("Reload: " + error);
  }
  warn_ignored_settings(cfg);
  if (!options->systemd && cfg.get_list("bind") != startup.cfg.get_list("bind") &&
      !rebind_listeners(startup, cfg, options->unlink_unix_sockets)) {
    return false;
  }
  startup.cfg = std::move(fresh.cfg);
  startup.app_uri = fresh.app_uri;
  // gunicorn's BaseApplication.reload: the settings, then --spew again.
  if (startup.cfg.get_bool("spew") && !install_spew()) PyErr_Clear();
  set_arbiter_options(startup, options);
  // gunicorn: hooks come from the new settings; on_reload(server) runs before the new workers.
  if (startup.hooks.init(startup.cfg, startup.app_uri, default_proc_name(startup))) startup.hooks.on_reload();
  // TLS: renewed certificate files (or a changed ssl_context hook) take effect in the workers
  // started from now on; the listeners stay, so no connection is refused meanwhile. A context
  // that can't be built leaves the current one in use.
  if (!startup.cfg.is_ssl()) {
    startup.tls = TlsState{};
  } else if (TlsState fresh_tls; build_tls(startup.hooks.server(), startup.cfg, &fresh_tls, &error)) {
    startup.tls = std::move(fresh_tls);
  } else {
    log::logger().error("Reload: " + error + "; the previous TLS context stays in use");
  }
  return true;
}

}  // namespace narwhal::module
