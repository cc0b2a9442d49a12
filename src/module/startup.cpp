#include "module/startup.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <memory>
#include <random>
#include <utility>

#include "arbiter/arbiter.h"
#include "config/config.h"
#include "control/protocol.h"
#include "control/settings_view.h"
#include "module/control_glue.h"
#include "log/logger.h"
#include "module/hooks.h"
#include "module/process.h"
#include "module/python_log.h"
#include "module/settings_check.h"
#include "module/settings_sources.h"
#include "module/startup_state.h"
#include "net/listener.h"
#include "python/convert.h"
#include "python/pyref.h"
#include "workers/worker.h"
#include "wsgi/handler.h"
#include "wsgi/objects.h"

namespace narwhal {
namespace {

using module::Startup;
using module::call_glue;
using module::print_error;

// How the app is loaded (gunicorn's WSGIApplication.load): the glue function and its arguments.
struct AppLoader {
  const char* function;
  py::Ref args;
};

AppLoader app_loader(const Startup& startup) {
  if (startup.application) {  // embedding: application.wsgi(), i.e. its load()
    return {"load_application", py::Ref::steal(Py_BuildValue("(O)", startup.application.get()))};
  }
  if (startup.cfg.is_set("paste")) {  // gunicorn's load_pasteapp: PasteDeploy's loadapp
    py::Ref global_conf = py::Ref::steal(PyDict_New());
    for (const auto& [key, value] : startup.cfg.paste_global_conf()) {
      py::Ref text = py::Ref::steal(PyUnicode_FromString(value.c_str()));
      if (!global_conf || !text || PyDict_SetItemString(global_conf.get(), key.c_str(), text.get()) < 0) {
        return {"", {}};
      }
    }
    return {"load_paste_app", py::Ref::steal(Py_BuildValue("(sO)", startup.app_uri.c_str(), global_conf.get()))};
  }
  return {"import_app", py::Ref::steal(Py_BuildValue("(s)", startup.app_uri.c_str()))};
}

// Where the app comes from, for messages: the import string or the PasteDeploy file.
std::string app_name(const Startup& startup) {
  return startup.application ? std::string("of the embedding application") : startup.app_uri;
}

py::Ref load_app(const Startup& startup) {
  AppLoader loader = app_loader(startup);
  if (!loader.args) return {};
  return call_glue(loader.function, loader.args.get());
}

// --reload: an app that fails to load is replaced by one answering with the traceback, and
// its files are watched, so a fix is picked up (gunicorn's behaviour).
py::Ref load_app_reloading(const Startup& startup) {
  AppLoader loader = app_loader(startup);
  py::Ref module = py::Ref::steal(PyImport_ImportModule("narwhal._server"));
  if (!module || !loader.args) return {};
  return py::Ref::steal(PyObject_CallMethod(module.get(), "import_app_reloading", "ssO", app_name(startup).c_str(),
                                            loader.function, loader.args.get()));
}

// With the app's loading error set: true (and the error cleared, its one line printed to stderr,
// as gunicorn's arbiter does) when it is gunicorn's AppImportError — the app is missing, not
// callable, called with wrong arguments — rather than an error of the app's own code.
bool report_app_import_error() {
  PyObject *error_type, *value, *traceback;
  PyErr_Fetch(&error_type, &value, &traceback);  // the import below must not run with it set
  py::Ref module = py::Ref::steal(PyImport_ImportModule("narwhal._glue"));
  py::Ref type = module ? py::Ref::steal(PyObject_GetAttrString(module.get(), "AppImportError")) : py::Ref();
  PyErr_Clear();
  if (!type || !error_type || !PyErr_GivenExceptionMatches(error_type, type.get())) {
    PyErr_Restore(error_type, value, traceback);
    return false;
  }
  py::Ref owned_type = py::Ref::steal(error_type), owned_value = py::Ref::steal(value),
          owned_traceback = py::Ref::steal(traceback);
  py::Ref text = value ? py::Ref::steal(PyObject_Str(value)) : py::Ref();
  const char* line = text ? PyUnicode_AsUTF8(text.get()) : nullptr;
  std::fprintf(stderr, "%s\n", line ? line : "Failed to load the application.");
  std::fflush(stderr);
  PyErr_Clear();
  return true;
}

// gunicorn's util.set_owner_process in the worker, before the app is imported.
bool switch_worker_user(const config::Config& cfg) {
  std::string error;
  if (process::set_owner_process(static_cast<uid_t>(cfg.get_int("user")), static_cast<gid_t>(cfg.get_int("group")),
                                 cfg.get_bool("initgroups"), &error)) {
    return true;
  }
  log::logger().error("Exception in worker process: " + error);
  return false;
}

// gunicorn's GeventWorker.init_process: monkey.patch_all() and a fresh hub in the worker, before
// the app is imported (with preload_app it was imported unpatched in the master: docs/workers.md).
bool patch_for_gevent() {
  py::Ref module = py::Ref::steal(PyImport_ImportModule("narwhal._gevent"));
  py::Ref done = module ? py::Ref::steal(PyObject_CallMethod(module.get(), "setup", nullptr)) : py::Ref();
  if (done) return true;
  log::logger().error("Exception in worker process: the gevent worker needs gevent (Debian: python3-gevent)\n" +
                      py::format_exception());
  return false;
}

// The app's source files (every loaded module's, plus reload_extra_files) for --reload.
std::vector<std::string> reload_files(const config::StringList& extra_files) {
  std::vector<std::string> files;
  py::Ref list = py::Ref::steal(PyList_New(0));
  for (const std::string& file : extra_files) {
    py::Ref item = py::Ref::steal(PyUnicode_FromString(file.c_str()));
    if (item) PyList_Append(list.get(), item.get());
  }
  py::Ref args = py::Ref::steal(PyTuple_Pack(1, list.get()));
  py::Ref result = call_glue("reload_files", args.get());
  if (!result) {
    log::logger().error("--reload: can't list the app's files\n" + py::format_exception());
    return files;
  }
  for (Py_ssize_t i = 0, n = PyList_Size(result.get()); i < n; ++i) {
    if (const char* name = PyUnicode_AsUTF8(PyList_GET_ITEM(result.get(), i))) files.emplace_back(name);
  }
  PyErr_Clear();
  return files;
}

wsgi::EnvironSettings environ_settings(const config::Config& cfg, const http::ParserOptions& parser) {
  wsgi::EnvironSettings settings;
  settings.multiprocess = cfg.get_int("workers") > 1;
  settings.server_software = std::string("narwhal/") + NARWHAL_VERSION;
  if (const char* script_name = std::getenv("SCRIPT_NAME")) settings.script_name = script_name;
  settings.secure_scheme_headers = cfg.get_map("secure_scheme_headers");
  settings.forwarded_allow_ips = cfg.get_list("forwarded_allow_ips");
  settings.forwarder_headers = cfg.get_list("forwarder_headers");
  settings.header_map = parser.header_map;
  return settings;
}

// In the worker, after fork: load the app (unless preloaded), then serve.
int worker_main(Startup& startup, arbiter::WorkerContext& context) {
  const config::Config& cfg = startup.cfg;
  module::Hooks& hooks = startup.hooks;
  hooks.begin_worker(context);  // post_fork
  if (!switch_worker_user(cfg)) {
    hooks.worker_exit();
    return arbiter::kWorkerBootError;
  }
  const workers::WorkerKind type = module::worker_class(cfg).kind;
  if (type == workers::WorkerKind::Gevent && !patch_for_gevent()) {
    hooks.worker_exit();
    return arbiter::kWorkerBootError;
  }
  wsgi::Application app;
  app.callable = startup.preloaded_app;
  if (!app.callable) {
    app.callable = cfg.get_bool("reload") ? load_app_reloading(startup) : load_app(startup);
    if (!app.callable) {
      if (report_app_import_error()) {  // gunicorn: exit status 4, "App failed to load."
        hooks.worker_exit();
        return arbiter::kAppLoadError;
      }
      log::logger().error("Exception in worker process\n" + py::format_exception());
      hooks.worker_exit();
      return arbiter::kWorkerBootError;
    }
  }
  hooks.set_app(app.callable.get());
  hooks.install_worker_signals();  // SIGABRT (WORKER TIMEOUT): tracebacks, worker_abort, exit
  app.use_sendfile = cfg.sendfile();
  workers::WorkerOptions options;
  options.parser = module::parser_options(cfg);
  wsgi::EnvironSettings environ = environ_settings(cfg, options.parser);
  environ.multithread = type == workers::WorkerKind::Gthread;
  environ.is_ssl = startup.tls.context != nullptr;  // wsgi.url_scheme https
  py::Ref errors = wsgi::new_error_stream();
  if (!errors || !app.environ.init(environ,
                                   reinterpret_cast<PyObject*>(wsgi::file_wrapper_type()), errors.get())) {
    log::logger().error("Exception in worker process\n" + py::format_exception());
    return arbiter::kWorkerBootError;
  }

  if (cfg.get_bool("reload")) {
    // reload_engine: inotify (and auto) watch in the C++ loop; poll keeps gunicorn's thread.
    if (cfg.get_string("reload_engine") == "poll") {
      hooks.start_reloader(cfg.get_list("reload_extra_files"));
    } else {
      options.watch_files = reload_files(cfg.get_list("reload_extra_files"));
    }
  }
  options.keepalive_s = static_cast<int>(cfg.get_int("keepalive"));
  options.timeout_s = static_cast<int>(cfg.get_int("timeout"));
  options.graceful_timeout_s = static_cast<int>(cfg.get_int("graceful_timeout"));
  options.worker_connections = static_cast<int>(cfg.get_int("worker_connections"));
  options.threads = static_cast<int>(cfg.get_int("threads"));
  options.body_buffer_size = static_cast<size_t>(cfg.get_int("body_buffer_size"));
  options.proxy_protocol = net::proxy_mode_from_text(cfg.get_string("proxy_protocol"));
  options.proxy_allow_ips = cfg.get_list("proxy_allow_ips");
  options.uwsgi_allow_ips = cfg.get_list("uwsgi_allow_ips");
  options.head_buffer_limit = static_cast<size_t>(cfg.get_int("head_buffer_limit"));
  int64_t max_requests = cfg.get_int("max_requests");
  int64_t jitter = cfg.get_int("max_requests_jitter");
  if (max_requests > 0 && jitter > 0) {
    std::mt19937_64 random(static_cast<uint64_t>(getpid()) ^ static_cast<uint64_t>(time(nullptr)));
    max_requests += static_cast<int64_t>(random() % static_cast<uint64_t>(jitter + 1));
  }
  options.max_requests = max_requests;
  options.asgi.loop = cfg.get_string("asgi_loop");
  options.asgi.lifespan = cfg.get_string("asgi_lifespan");
  options.asgi.disconnect_grace_s = static_cast<int>(cfg.get_int("asgi_disconnect_grace_period"));
  options.asgi.root_path = cfg.get_string("root_path");
  options.asgi.websocket_max_message = static_cast<size_t>(cfg.get_int("websocket_max_message_size"));
  options.asgi.websocket_ping_interval_s = static_cast<int>(cfg.get_int("websocket_ping_interval"));
  if (options.timeout_s <= 0) options.timeout_s = 1 << 20;  // 0 = no timeout (gunicorn)
  hooks.post_worker_init();
  options.hooks = hooks.worker_hooks();
  options.hooks.access = module::python_access_hook();  // empty unless Python logging is on
  options.scoreboard = context.scoreboard;
  options.tls = startup.tls.context;
  {
    const config::StringList protocols = cfg.get_list("http_protocols");
    options.http2.enabled = std::find(protocols.begin(), protocols.end(), "h2") != protocols.end();
    options.http2.cleartext = options.http2.enabled && cfg.get_string("http2_cleartext") == "prior-knowledge";
    http::h2::SessionOptions& session = options.http2.session;
    session.max_concurrent_streams = static_cast<uint32_t>(cfg.get_int("http2_max_concurrent_streams"));
    session.initial_window_size = static_cast<uint32_t>(cfg.get_int("http2_initial_window_size"));
    session.max_frame_size = static_cast<uint32_t>(cfg.get_int("http2_max_frame_size"));
    session.max_header_list_size = static_cast<uint32_t>(cfg.get_int("http2_max_header_list_size"));
  }
  options.suppress_ragged_eofs = cfg.get_bool("suppress_ragged_eofs");
  // Queue time from the kernel's arrival stamps when someone looks at it (docs/metrics.md).
  options.arrival_stamps = !cfg.get_string("metrics_bind").empty() ||
                           ((log::logger().access_enabled() || options.hooks.access) &&
                            log::logger().access_format().uses_queue_time());
  module::set_dump_target(context.scoreboard);  // _core.publish_dump (SIGWINCH: `dump PID`)
  if (context.scoreboard) context.scoreboard->booted.store(1, std::memory_order_relaxed);
  auto seconds_or_timeout = [&](const char* name) {
    int64_t seconds = cfg.get_int(name);
    return static_cast<int>((seconds > 0 ? seconds : options.timeout_s) * 1000);
  };
  int64_t header_timeout = cfg.get_int("header_timeout");
  options.header_timeout_ms = header_timeout > 0 ? header_timeout * 1000 : int64_t{1} << 40;
  options.body_timeout_ms = seconds_or_timeout("body_timeout");
  options.write_timeout_ms = seconds_or_timeout("write_timeout");
  // The worker body of the resolved class (src/workers/registry.h); load_settings refused the
  // classes that have none yet.
  int status = workers::run_worker(type, context, options, app);
  py::Ref args = py::Ref::steal(PyTuple_New(0));
  if (!call_glue("flush_stdio", args.get())) PyErr_Clear();
  return status;
}

// gunicorn's sock.create_sockets, called by the arbiter after on_starting: sockets handed over
// by systemd (LISTEN_FDS) or a parent master (GUNICORN_FD) come first, like gunicorn;
// otherwise bind what the settings say.
bool create_listeners(const config::Config& cfg, std::vector<net::Listener>* listeners,
                      arbiter::ArbiterOptions* options) {
  std::string error;
  net::ListenOptions listen = module::listen_options(cfg);
  bool systemd = false;
  if (!net::inherited_listeners_from_env(listen, listeners, &systemd, &error)) {
    log::logger().error(error);
    return false;
  }
  if (listeners->empty()) {
    process::ScopedUmask umask(static_cast<mode_t>(cfg.get_int("umask")));  // gunicorn: unix sockets get it
    if (!net::open_listeners(cfg.get_list("bind"), listen, listeners, &error)) {
      log::logger().error(error);
      return false;
    }
    module::chown_unix_sockets(*listeners, cfg);
  }
  options->unlink_unix_sockets = !systemd && !listen.reuse_port;
  options->systemd = systemd;
  return true;
}

int serve(Startup& startup) {
  arbiter::ArbiterOptions options;
  module::set_arbiter_options(startup, &options);
  options.exec_argv = module::reexec_argv(startup.argv);
  options.exec_cwd = startup.start_cwd;

  arbiter::Callbacks callbacks;
  callbacks.before_fork = [] { PyOS_BeforeFork(); };
  callbacks.after_fork_parent = [] { PyOS_AfterFork_Parent(); };
  callbacks.after_fork_child = [] {
    PyOS_AfterFork_Child();
    log::logger().statsd().discard_pending();  // the master's buffered metrics are its own
    log::logger().syslog().after_fork();
  };
  callbacks.metric = [](const std::string& name, long long value, bool histogram) {
    log::Statsd& statsd = log::logger().statsd();
    if (histogram) statsd.histogram(name, value);
    else statsd.gauge(name, value);
  };
  callbacks.flush_metrics = [] { log::logger().statsd().flush(); };
  // Under Python logging the master lets Python threads run while it waits: handlers that
  // work in a thread of their own (QueueListener, batching network handlers) must not stall
  // until the master's next Python call. Nothing of the master runs in between.
  auto sleeping = std::make_shared<PyThreadState*>(nullptr);
  callbacks.before_sleep = [sleeping] {
    if (module::python_logging_active()) *sleeping = PyEval_SaveThread();
  };
  callbacks.after_sleep = [sleeping] {
    if (*sleeping) PyEval_RestoreThread(std::exchange(*sleeping, nullptr));
  };
  callbacks.run_worker = [&startup](arbiter::WorkerContext& context) { return worker_main(startup, context); };
  callbacks.log_debug = [](const std::string& m) { log::logger().debug(m); };
  callbacks.log_info = [](const std::string& m) { log::logger().info(m); };
  callbacks.log_warning = [](const std::string& m) { log::logger().warning(m); };
  callbacks.log_error = [](const std::string& m) { log::logger().error(m); };
  callbacks.log_critical = [](const std::string& m) { log::logger().critical(m); };
  callbacks.on_usr1 = [] { log::logger().reopen(); };
  callbacks.reload = [&startup](arbiter::ArbiterOptions* next) { return module::reload_settings(startup, next); };
  callbacks.set_proc_title = process::set_proc_title;
  callbacks.config_json = [&startup] {
    const config::Config& cfg = startup.cfg;
    const std::string name = cfg.is_set("proc_name") ? cfg.get_string("proc_name") : module::default_proc_name(startup);
    return control::dump_json(control::settings_json(cfg, name));
  };
  callbacks.create_listeners = [&startup](std::vector<net::Listener>* listeners, arbiter::ArbiterOptions* created) {
    return create_listeners(startup.cfg, listeners, created);
  };
  // on_starting, when_ready, pre_fork, child_exit, nworkers_changed, pre_exec, on_exit
  startup.hooks.add_arbiter_callbacks(callbacks);
  return arbiter::run(options, startup.listeners, callbacks);
}

}  // namespace

int run_main(const std::vector<std::string>& argv, PyObject* application) {
  Startup startup;
  startup.argv = argv;  // arbiter wiring: HUP and USR2
  if (char* cwd = ::getcwd(nullptr, 0)) {
    startup.start_cwd = cwd;
    std::free(cwd);
  }
  if (int status = module::read_settings(startup, argv, application, false); status >= 0) return status;
  config::Config& cfg = startup.cfg;
  if (!module::set_environment(cfg) || !module::prepare_python_path(cfg)) return 1;

  if (cfg.get_bool("check_config")) {
    if (!load_app(startup)) {
      std::fprintf(stderr, "Error: failed to load the application %s\n%s\n", app_name(startup).c_str(),
                   py::format_exception().c_str());
      return 1;
    }
    return 0;
  }

  std::string error;
  if (cfg.is_set("worker_tmp_dir")) {  // narwhal's heartbeat needs no file; still check it like gunicorn
    struct stat info;
    if (stat(cfg.get_string("worker_tmp_dir").c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) {
      print_error("worker_tmp_dir is not a directory: " + cfg.get_string("worker_tmp_dir"));
      return 1;
    }
  }
  // gunicorn's Application.run: --spew installs the trace function before daemonizing; the
  // workers inherit it through fork.
  if (cfg.get_bool("spew") && !module::install_spew()) return 1;
  // gunicorn daemonizes before the arbiter exists (no thread, no socket yet); not when started
  // by a parent master (USR2 upgrade), which is daemonized already.
  if (cfg.get_bool("daemon") && !std::getenv("GUNICORN_FD") &&
      !process::daemonize(cfg.get_bool("enable_stdio_inheritance"), &error)) {
    print_error(error);
    return 1;
  }
  if (!module::open_logs(cfg, startup.app_uri, &error)) {
    print_error(error);
    return 1;
  }
  module::warn_ignored_settings(cfg);
  // gunicorn's Arbiter.setup: num_workers is set (nworkers_changed), the app preloaded; then
  // Arbiter.start (in arbiter::run) logs "Starting", writes the pid file, runs on_starting...
  if (!startup.hooks.init(cfg, startup.app_uri, module::default_proc_name(startup))) return 1;
  startup.hooks.nworkers_changed(static_cast<int>(cfg.get_int("workers")), -1);
  if (cfg.is_ssl() && !module::build_tls(startup.hooks.server(), cfg, &startup.tls, &error)) {
    log::logger().error(error);  // gunicorn: a certfile that does not exist stops the start-up
    return 1;
  }
  if (cfg.get_bool("preload_app")) {
    startup.preloaded_app = load_app(startup);
    if (!startup.preloaded_app) {
      if (report_app_import_error()) return arbiter::kAppLoadError;
      log::logger().error("Failed to load the application " + app_name(startup) + "\n" + py::format_exception());
      return 1;
    }
    startup.hooks.set_app(startup.preloaded_app.get());
  }
  return serve(startup);
}

}  // namespace narwhal
