#include "module/startup.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <random>

#include "arbiter/arbiter.h"
#include "config/config.h"
#include "log/logger.h"
#include "module/hooks.h"
#include "module/process.h"
#include "net/listener.h"
#include "python/convert.h"
#include "python/pyref.h"
#include "workers/sync_worker.h"
#include "wsgi/handler.h"
#include "wsgi/objects.h"

namespace narwhal {
namespace {

void print_error(const std::string& message) { std::fprintf(stderr, "Error: %s\n", message.c_str()); }

// Calls narwhal._glue.<function>(*args); returns null with the Python error set on failure.
py::Ref call_glue(const char* function, PyObject* args) {
  py::Ref module = py::Ref::steal(PyImport_ImportModule("narwhal._glue"));
  if (!module) return {};
  py::Ref callable = py::Ref::steal(PyObject_GetAttrString(module.get(), function));
  if (!callable) return {};
  return py::Ref::steal(PyObject_CallObject(callable.get(), args));
}

py::Ref call_glue(const char* function, const std::string& argument) {
  py::Ref args = py::Ref::steal(Py_BuildValue("(s)", argument.c_str()));
  return call_glue(function, args.get());
}

bool load_config_file(config::Config& cfg, const std::string& path) {
  py::Ref values = call_glue("load_config", path);
  if (!values) {
    std::string trace = py::format_exception();
    std::fprintf(stderr, "Error: failed to read config file: %s\n%s\n", path.c_str(), trace.c_str());
    return false;
  }
  PyObject *key, *value;
  Py_ssize_t position = 0;
  while (PyDict_Next(values.get(), &position, &key, &value)) {
    const char* name = PyUnicode_AsUTF8(key);
    if (!name || !config::find_setting(name)) {
      PyErr_Clear();
      continue;  // like gunicorn: other names in a config file are the user's own business
    }
    if (auto error = cfg.set(name, py::to_config_value(value))) {
      print_error(error->message);
      return false;
    }
  }
  return true;
}

std::string default_config_file() {
  for (const char* candidate : {"narwhal.conf.py", "gunicorn.conf.py"}) {
    struct stat info;
    if (stat(candidate, &info) == 0 && S_ISREG(info.st_mode)) return std::string("./") + candidate;
  }
  return "";
}

// GUNICORN_CMD_ARGS then NARWHAL_CMD_ARGS, parsed like the command line.
std::optional<std::vector<config::CliResult>> env_cli_results() {
  std::vector<config::CliResult> results;
  for (const char* variable : {"GUNICORN_CMD_ARGS", "NARWHAL_CMD_ARGS"}) {
    const char* text = std::getenv(variable);
    if (!text || !*text) continue;
    auto words = config::split_shell_words(text);
    if (!words) {
      print_error(std::string(variable) + ": unbalanced quotes");
      return std::nullopt;
    }
    config::CliResult parsed = config::parse_cli(*words);
    if (!parsed.error.empty()) {
      print_error(std::string(variable) + ": " + parsed.error);
      return std::nullopt;
    }
    results.push_back(std::move(parsed));
  }
  return results;
}

// The last -c/--config of a source, if any.
void find_config_path(const config::CliResult& cli, std::string* path) {
  for (const auto& [name, value] : cli.values) {
    if (name == "config") *path = value;
  }
}

bool set_environment(const config::Config& cfg) {
  for (const std::string& entry : cfg.get_list("raw_env")) {
    size_t equals = entry.find('=');
    if (equals == std::string::npos) continue;  // validated by the table
    py::Ref args = py::Ref::steal(Py_BuildValue("(s#s)", entry.data(), static_cast<Py_ssize_t>(equals),
                                                entry.c_str() + equals + 1));
    if (!call_glue("set_env", args.get())) return false;
  }
  return true;
}

bool prepare_python_path(const config::Config& cfg) {
  py::Ref args = py::Ref::steal(Py_BuildValue("(ss)", cfg.get_string("chdir").c_str(),
                                              cfg.get_string("pythonpath").c_str()));
  if (!call_glue("prepare_path", args.get())) {
    print_error(py::format_exception());
    return false;
  }
  return true;
}

py::Ref load_app(const std::string& uri) { return call_glue("import_app", uri); }

// --reload: an app that fails to import is replaced by one answering with the traceback, and
// its files are watched, so a fix is picked up (gunicorn's behaviour).
py::Ref load_app_reloading(const std::string& uri) {
  py::Ref module = py::Ref::steal(PyImport_ImportModule("narwhal._server"));
  if (!module) return {};
  return py::Ref::steal(PyObject_CallMethod(module.get(), "import_app_reloading", "s", uri.c_str()));
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

http::ParserOptions parser_options(const config::Config& cfg) {
  http::ParserOptions options;
  options.limits.request_line = static_cast<size_t>(cfg.get_int("limit_request_line"));
  options.limits.fields = static_cast<size_t>(cfg.get_int("limit_request_fields"));
  options.limits.field_size = static_cast<size_t>(cfg.get_int("limit_request_field_size"));
  options.limits.body = static_cast<uint64_t>(cfg.get_int("limit_request_body"));
  const std::string& header_map = cfg.get_string("header_map");
  options.header_map = header_map == "refuse" ? http::HeaderMap::Refuse
                       : header_map == "dangerous" ? http::HeaderMap::Dangerous
                                                   : http::HeaderMap::Drop;
  options.permit_unconventional_http_method = cfg.get_bool("permit_unconventional_http_method");
  options.casefold_http_method = cfg.get_bool("casefold_http_method");
  return options;
}

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

// In the worker, after fork: load the app (unless preloaded), then serve.
int worker_main(Startup& startup, arbiter::WorkerContext& context) {
  const config::Config& cfg = startup.cfg;
  module::Hooks& hooks = startup.hooks;
  hooks.begin_worker(context);  // post_fork
  if (!switch_worker_user(cfg)) {
    hooks.worker_exit();
    return arbiter::kWorkerBootError;
  }
  wsgi::Application app;
  app.callable = startup.preloaded_app;
  if (!app.callable) {
    app.callable = cfg.get_bool("reload") ? load_app_reloading(startup.app_uri) : load_app(startup.app_uri);
    if (!app.callable) {
      log::logger().error("Exception in worker process\n" + py::format_exception());
      hooks.worker_exit();
      return arbiter::kWorkerBootError;
    }
  }
  hooks.set_app(app.callable.get());
  hooks.install_worker_signals();  // SIGABRT (WORKER TIMEOUT): tracebacks, worker_abort, exit
  if (cfg.get_bool("reload")) hooks.start_reloader(cfg.get_list("reload_extra_files"));
  app.use_sendfile = cfg.sendfile();
  wsgi::EnvironSettings environ_settings;
  environ_settings.multiprocess = cfg.get_int("workers") > 1;
  if (const char* script_name = std::getenv("SCRIPT_NAME")) environ_settings.script_name = script_name;
  environ_settings.secure_scheme_headers = cfg.get_map("secure_scheme_headers");
  environ_settings.forwarded_allow_ips = cfg.get_list("forwarded_allow_ips");
  py::Ref errors = wsgi::new_error_stream();
  if (!errors || !app.environ.init(environ_settings, reinterpret_cast<PyObject*>(wsgi::file_wrapper_type()),
                                   errors.get())) {
    log::logger().error("Exception in worker process\n" + py::format_exception());
    return arbiter::kWorkerBootError;
  }

  workers::SyncWorkerOptions options;
  options.parser = parser_options(cfg);
  options.keepalive_s = static_cast<int>(cfg.get_int("keepalive"));
  options.timeout_s = static_cast<int>(cfg.get_int("timeout"));
  options.graceful_timeout_s = static_cast<int>(cfg.get_int("graceful_timeout"));
  options.worker_connections = static_cast<int>(cfg.get_int("worker_connections"));
  int64_t max_requests = cfg.get_int("max_requests");
  int64_t jitter = cfg.get_int("max_requests_jitter");
  if (max_requests > 0 && jitter > 0) {
    std::mt19937_64 random(static_cast<uint64_t>(getpid()) ^ static_cast<uint64_t>(time(nullptr)));
    max_requests += static_cast<int64_t>(random() % static_cast<uint64_t>(jitter + 1));
  }
  options.max_requests = max_requests;
  if (options.timeout_s <= 0) options.timeout_s = 1 << 20;  // 0 = no timeout (gunicorn)
  hooks.post_worker_init();
  options.hooks = hooks.worker_hooks();
  auto seconds_or_timeout = [&](const char* name) {
    int64_t seconds = cfg.get_int(name);
    return static_cast<int>((seconds > 0 ? seconds : options.timeout_s) * 1000);
  };
  int64_t header_timeout = cfg.get_int("header_timeout");
  options.header_timeout_ms = header_timeout > 0 ? header_timeout * 1000 : int64_t{1} << 40;
  options.body_timeout_ms = seconds_or_timeout("body_timeout");
  options.write_timeout_ms = seconds_or_timeout("write_timeout");
  int status = workers::run_sync_worker(context, options, app);
  py::Ref args = py::Ref::steal(PyTuple_New(0));
  if (!call_glue("flush_stdio", args.get())) PyErr_Clear();
  return status;
}

bool is_sync_worker_class(const std::string& name) {
  return name == "sync" || name == "gunicorn.workers.sync.SyncWorker" || name == "egg:gunicorn#sync";
}

// --- arbiter wiring (signals, docs/signals.md) ---------------------------------------------
bool reload_settings(Startup& startup, arbiter::ArbiterOptions* options);

// The settings the master uses; also after each HUP.
void set_arbiter_options(const Startup& startup, arbiter::ArbiterOptions* options) {
  const config::Config& cfg = startup.cfg;
  options->workers = static_cast<int>(cfg.get_int("workers"));
  options->timeout = static_cast<double>(cfg.get_int("timeout"));
  options->graceful_timeout = static_cast<double>(cfg.get_int("graceful_timeout"));
  options->proc_name = cfg.is_set("proc_name") ? cfg.get_string("proc_name") : startup.app_uri;  // gunicorn: default_proc_name is the app uri
  options->version = NARWHAL_VERSION;
  options->worker_class = cfg.get_string("worker_class");
  options->pidfile = cfg.get_string("pidfile");
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
// --- end of arbiter wiring ------------------------------------------------------------------

int serve(Startup& startup) {
  const config::Config& cfg = startup.cfg;
  std::string error;
  net::ListenOptions listen;
  listen.backlog = static_cast<int>(cfg.get_int("backlog"));
  listen.reuse_port = cfg.get_bool("reuse_port");
  listen.tls = cfg.is_set("certfile");
  listen.log_error = [](const std::string& m) { log::logger().error(m); };
  // Sockets handed over by systemd (LISTEN_FDS) or a parent master (GUNICORN_FD) come first,
  // like gunicorn; otherwise bind what the settings say.
  bool systemd = false;
  if (!net::inherited_listeners_from_env(listen, &startup.listeners, &systemd, &error)) {
    log::logger().error(error);
    return 1;
  }
  if (startup.listeners.empty()) {
    process::ScopedUmask umask(static_cast<mode_t>(cfg.get_int("umask")));  // gunicorn: unix sockets get it
    if (!net::open_listeners(cfg.get_list("bind"), listen, &startup.listeners, &error)) {
      log::logger().error(error);
      return 1;
    }
  }
  arbiter::ArbiterOptions options;
  set_arbiter_options(startup, &options);
  options.unlink_unix_sockets = !systemd && !listen.reuse_port;
  options.systemd = systemd;
  options.exec_argv = reexec_argv(startup.argv);
  options.exec_cwd = startup.start_cwd;

  arbiter::Callbacks callbacks;
  callbacks.before_fork = [] { PyOS_BeforeFork(); };
  callbacks.after_fork_parent = [] { PyOS_AfterFork_Parent(); };
  callbacks.after_fork_child = [] { PyOS_AfterFork_Child(); };
  callbacks.run_worker = [&startup](arbiter::WorkerContext& context) { return worker_main(startup, context); };
  callbacks.log_debug = [](const std::string& m) { log::logger().debug(m); };
  callbacks.log_info = [](const std::string& m) { log::logger().info(m); };
  callbacks.log_warning = [](const std::string& m) { log::logger().warning(m); };
  callbacks.log_error = [](const std::string& m) { log::logger().error(m); };
  callbacks.log_critical = [](const std::string& m) { log::logger().critical(m); };
  callbacks.on_usr1 = [] { log::logger().reopen(); };
  callbacks.reload = [&startup](arbiter::ArbiterOptions* next) { return reload_settings(startup, next); };
  callbacks.set_proc_title = process::set_proc_title;
  startup.hooks.add_arbiter_callbacks(callbacks);  // when_ready, pre_fork, child_exit, nworkers_changed, pre_exec
  int status = arbiter::run(options, startup.listeners, callbacks);
  startup.hooks.on_exit();
  return status;
}

// Settings from every source, in gunicorn's precedence. Returns -1 to go on, else an exit status.
int load_settings(Startup& startup, const std::vector<std::string>& argv) {
  std::vector<std::string> args(argv.begin() + (argv.empty() ? 0 : 1), argv.end());
  config::CliResult cli = config::parse_cli(args);
  if (!cli.error.empty()) {
    std::fprintf(stderr, "usage: narwhal [OPTIONS] [APP_MODULE]\nnarwhal: error: %s\n", cli.error.c_str());
    return 2;
  }
  if (cli.help) {
    std::fputs(config::usage_text("narwhal").c_str(), stdout);
    return 0;
  }
  if (cli.version) {
    std::printf("narwhal (version %s)\n", NARWHAL_VERSION);
    return 0;
  }
  if (cli.positional.size() > 1) {
    std::fprintf(stderr, "usage: narwhal [OPTIONS] [APP_MODULE]\nnarwhal: error: unrecognized arguments: %s\n",
                 cli.positional[1].c_str());
    return 2;
  }
  config::Config& cfg = startup.cfg;
  for (const config::ConfigError& error : cfg.default_errors()) {
    print_error(error.message);
    return 1;
  }
  // gunicorn's precedence: a config file named on the command line, else in the environment
  // variables, else the default file; then the environment's flags; then the command line's.
  auto env_results = env_cli_results();
  if (!env_results) return 1;
  std::string config_path;
  for (const config::CliResult& env : *env_results) find_config_path(env, &config_path);
  find_config_path(cli, &config_path);
  if (config_path.empty()) config_path = default_config_file();
  if (!config_path.empty()) {
    if (auto error = cfg.set("config", config::Value(config_path))) {
      print_error(error->message);
      return 1;
    }
    if (!load_config_file(cfg, config_path)) return 1;
  }
  for (const config::CliResult& source : *env_results) {
    if (auto error = config::apply_cli(cfg, source)) {
      print_error(error->message);
      return 1;
    }
  }
  if (auto error = config::apply_cli(cfg, cli)) {
    print_error(error->message);
    return 1;
  }

  if (!cli.positional.empty()) startup.app_uri = cli.positional[0];
  else if (cfg.is_set("wsgi_app")) startup.app_uri = cfg.get_string("wsgi_app");
  if (cfg.get_bool("print_config")) {
    std::puts(cfg.print_config().c_str());
    return 0;
  }
  if (startup.app_uri.empty()) {
    std::fprintf(stderr, "usage: narwhal [OPTIONS] [APP_MODULE]\nnarwhal: error: No application module specified.\n");
    return 2;
  }
  if (!is_sync_worker_class(cfg.get_string("worker_class"))) {
    print_error("worker_class '" + cfg.get_string("worker_class") +
                "' is not supported yet (expected 'sync')");
    return 1;
  }
  return -1;
}

// --- arbiter wiring: HUP ----------------------------------------------------------------------
// gunicorn's Arbiter.reload: every settings source is read again exactly as at start-up (in the
// start-up directory: relative config paths keep their meaning), then raw_env, chdir and
// pythonpath, the log files, and the listeners if `bind` changed. Workers forked afterwards
// read startup.cfg, so they use the new settings and import the app again (unless preloaded).
bool reload_settings(Startup& startup, arbiter::ArbiterOptions* options) {
  Startup fresh;
  bool loaded = ::chdir(startup.start_cwd.c_str()) == 0 && load_settings(fresh, startup.argv) < 0;
  if (!loaded || !set_environment(fresh.cfg) || !prepare_python_path(fresh.cfg)) {
    PyErr_Clear();
    prepare_python_path(startup.cfg);  // back to the current chdir
    return false;
  }
  const config::Config& cfg = fresh.cfg;
  log::Level level = log::Level::Info;
  log::parse_level(cfg.get_string("loglevel"), &level);
  std::string error;
  if (!log::logger().open(cfg.get_string("errorlog"), cfg.is_set("accesslog") ? cfg.get_string("accesslog") : "",
                          level, cfg.get_string("access_log_format"), &error)) {
    log::logger().error("Reload: " + error);
  }
  if (!options->systemd && cfg.get_list("bind") != startup.cfg.get_list("bind")) {
    net::ListenOptions listen;
    listen.backlog = static_cast<int>(cfg.get_int("backlog"));
    listen.reuse_port = cfg.get_bool("reuse_port");
    listen.tls = cfg.is_set("certfile");
    listen.log_error = [](const std::string& m) { log::logger().error(m); };
    std::vector<net::Listener> listeners;
    if (!net::open_listeners(cfg.get_list("bind"), listen, &listeners, &error)) {
      log::logger().error("Reload: " + error);
      return false;
    }
    net::close_listeners(startup.listeners, options->unlink_unix_sockets);
    startup.listeners = std::move(listeners);  // the arbiter's vector: new workers get these
  }
  startup.cfg = std::move(fresh.cfg);
  startup.app_uri = fresh.app_uri;
  set_arbiter_options(startup, options);
  // gunicorn: hooks come from the new settings; on_reload(server) runs before the new workers.
  if (startup.hooks.init(startup.cfg, startup.app_uri)) startup.hooks.on_reload();
  return true;
}
// --- end of arbiter wiring ------------------------------------------------------------------

}  // namespace

int run_main(const std::vector<std::string>& argv) {
  Startup startup;
  startup.argv = argv;  // arbiter wiring: HUP and USR2
  if (char* cwd = ::getcwd(nullptr, 0)) {
    startup.start_cwd = cwd;
    std::free(cwd);
  }
  if (int status = load_settings(startup, argv); status >= 0) return status;
  config::Config& cfg = startup.cfg;
  if (!set_environment(cfg) || !prepare_python_path(cfg)) return 1;

  if (cfg.get_bool("check_config")) {
    if (!load_app(startup.app_uri)) {
      std::fprintf(stderr, "Error: failed to load the application %s\n%s\n", startup.app_uri.c_str(),
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
  // gunicorn daemonizes before the arbiter exists (no thread, no socket yet); not when started
  // by a parent master (USR2 upgrade), which is daemonized already.
  if (cfg.get_bool("daemon") && !std::getenv("GUNICORN_FD") &&
      !process::daemonize(cfg.get_bool("enable_stdio_inheritance"), &error)) {
    print_error(error);
    return 1;
  }
  log::Level level = log::Level::Info;
  log::parse_level(cfg.get_string("loglevel"), &level);
  if (!log::logger().open(cfg.get_string("errorlog"), cfg.is_set("accesslog") ? cfg.get_string("accesslog") : "",
                          level, cfg.get_string("access_log_format"), &error)) {
    print_error(error);
    return 1;
  }
  // gunicorn's order: num_workers is set (nworkers_changed), the app preloaded, on_starting.
  if (!startup.hooks.init(cfg, startup.app_uri)) return 1;
  startup.hooks.nworkers_changed(static_cast<int>(cfg.get_int("workers")), -1);
  if (cfg.get_bool("preload_app")) {
    startup.preloaded_app = load_app(startup.app_uri);
    if (!startup.preloaded_app) {
      log::logger().error("Failed to load the application " + startup.app_uri + "\n" + py::format_exception());
      return 1;
    }
    startup.hooks.set_app(startup.preloaded_app.get());
  }
  startup.hooks.on_starting();
  return serve(startup);
}

}  // namespace narwhal
