#include "module/settings_sources.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "log/logger.h"
#include "module/hooks.h"
#include "module/python_log.h"
#include "module/settings_check.h"
#include "python/convert.h"

namespace narwhal::module {

bool apply_config_values(config::Config& cfg, PyObject* values) {
  PyObject *key, *value;
  Py_ssize_t position = 0;
  while (PyDict_Next(values, &position, &key, &value)) {
    const char* name = PyUnicode_Check(key) ? PyUnicode_AsUTF8(key) : nullptr;
    if (!name || !config::find_setting(name)) {
      PyErr_Clear();
      continue;
    }
    if (auto error = cfg.set(name, py::to_config_value(value, config::find_setting(name)->python_value))) {
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

namespace {

bool load_config_file(config::Config& cfg, const std::string& path) {
  py::Ref values = call_glue("load_config", path);
  if (!values) {
    std::string trace = py::format_exception();
    std::fprintf(stderr, "Error: failed to read config file: %s\n%s\n", path.c_str(), trace.c_str());
    return false;
  }
  return apply_config_values(cfg, values.get());
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

}  // namespace

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

bool install_spew() {
  py::Ref args = py::Ref::steal(PyTuple_New(0));
  if (call_glue("spew", args.get())) return true;
  print_error(py::format_exception());
  return false;
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

bool open_logs(const config::Config& cfg, const std::string& app_uri, std::string* error) {
  log::Level level = log::Level::Info;
  log::parse_level(cfg.get_string("loglevel"), &level);
  // Python logging (python_log.h): the access log and syslog are the Python logger's; the C++
  // logger keeps the error log file for capture_output and the lines Python cannot take.
  const bool python_logging = python_logging_wanted(cfg);
  const std::string accesslog = cfg.is_set("accesslog") && !python_logging ? cfg.get_string("accesslog") : "";
  if (!log::logger().open(cfg.get_string("errorlog"), accesslog, level, cfg.get_string("access_log_format"), error)) {
    return false;
  }
  if (cfg.get_bool("capture_output")) {
    py::Ref args = py::Ref::steal(PyTuple_New(0));
    if (!call_glue("flush_stdio", args.get())) PyErr_Clear();  // what Python buffered goes first
    log::logger().capture_output();
  }
  if (python_logging) {
    py::Ref values = py::Ref::steal(settings_to_python(cfg));
    if (values && !cfg.is_set("proc_name")) {  // gunicorn's default_proc_name (syslog's prefix)
      py::Ref name = py::Ref::steal(PyUnicode_FromString(app_uri.c_str()));
      if (!name || PyDict_SetItemString(values.get(), "default_proc_name", name.get()) < 0) values.reset();
    }
    if (!values) {
      *error = "can't convert the settings for Python logging: " + py::exception_message();
      return false;
    }
    if (!configure_python_logging(values.get(), error)) {
      // A HUP with a broken configuration: the Python logger in use stays; if there is none,
      // the C++ logger takes the access log back, so no line is lost.
      if (!python_logging_active()) {
        std::string ignored;
        log::logger().open(cfg.get_string("errorlog"), cfg.is_set("accesslog") ? cfg.get_string("accesslog") : "",
                           level, cfg.get_string("access_log_format"), &ignored);
      } else {
        log::logger().set_level(log::Level::Debug);  // the Python logger filters
      }
      return false;
    }
  } else {
    disable_python_logging();
  }
  if (cfg.get_bool("syslog") && !python_logging) {
    // gunicorn: program "gunicorn.<syslog_prefix or proc_name with ':' as '.'>".
    std::string prefix = cfg.is_set("syslog_prefix") ? cfg.get_string("syslog_prefix")
                         : cfg.is_set("proc_name")   ? cfg.get_string("proc_name")
                                                     : app_uri;  // gunicorn's default_proc_name
    for (char& c : prefix) {
      if (c == ':') c = '.';
    }
    if (!log::logger().syslog().open(cfg.get_string("syslog_addr"), cfg.get_string("syslog_facility"),
                                     "gunicorn." + prefix, error)) {
      return false;
    }
    log::logger().set_syslog_access(!cfg.get_bool("disable_redirect_access_to_syslog"));
  }
  if (cfg.is_set("statsd_host") &&
      !log::logger().statsd().open(cfg.get_string("statsd_host"), cfg.get_string("statsd_prefix"),
                                   cfg.get_string("dogstatsd_tags"), error)) {
    return false;
  }
  return true;
}

net::ListenOptions listen_options(const config::Config& cfg) {
  net::ListenOptions listen;
  listen.backlog = static_cast<int>(cfg.get_int("backlog"));
  listen.reuse_port = cfg.get_bool("reuse_port");
  listen.tls = cfg.is_set("certfile");
  listen.log_error = [](const std::string& m) { log::logger().error(m); };
  return listen;
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
  options.permit_obsolete_folding = cfg.get_bool("permit_obsolete_folding");
  options.strip_header_spaces = cfg.get_bool("strip_header_spaces");
  options.permit_unconventional_http_version = cfg.get_bool("permit_unconventional_http_version");
  options.tolerate_dangerous_framing = cfg.get_bool("tolerate_dangerous_framing");
  options.uwsgi = cfg.get_string("protocol") == "uwsgi";
  return options;
}

namespace {

// WEB_CONCURRENCY=abc and the like: gunicorn fails when it evaluates the defaults.
bool report_default_errors(const config::Config& cfg) {
  for (const config::ConfigError& error : cfg.default_errors()) {
    print_error(error.message);
    return true;
  }
  return false;
}

// The command line's sources over what `cfg` holds: a config file (named on the command line,
// else in the environment variables, else the default file), then GUNICORN_CMD_ARGS /
// NARWHAL_CMD_ARGS, then the command line itself. Returns -1 to go on, else the exit status.
int apply_command_line(const std::vector<std::string>& argv, size_t max_positional, config::Config& cfg,
                       std::vector<std::string>* positional) {
  std::vector<std::string> args(argv.begin() + (argv.empty() ? 0 : 1), argv.end());
  config::CliResult cli = config::parse_cli(args, max_positional);
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
  if (report_default_errors(cfg)) return 1;
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
  *positional = std::move(cli.positional);
  return -1;
}

// gunicorn's WSGIApplication.init with --paste: the app is the absolute "path#name" (relative to
// the start-up directory), a missing file stops the start-up, a file with a [loggers] section
// sets logconfig (gunicorn sets it before the other sources, so only when none set it). An
// APP_MODULE given as well is ignored, as gunicorn 20.1 to 23 ignore it — with a warning here.
int resolve_paste(config::Config& cfg, const std::vector<std::string>& positional, std::string* app_uri) {
  py::Ref resolved = call_glue("paste_config", cfg.get_string("paste"));
  const char *uri = nullptr, *file = nullptr;
  int has_logging = 0;
  if (!resolved || !PyArg_ParseTuple(resolved.get(), "ssp", &uri, &file, &has_logging)) {
    std::fprintf(stderr, "\nError: %s\n", py::exception_message().c_str());  // gunicorn's do_load_config
    return 1;
  }
  *app_uri = uri;
  if (has_logging && !cfg.is_set("logconfig")) {
    if (auto error = cfg.set("logconfig", config::Value(std::string(file)))) {
      print_error(error->message);
      return 1;
    }
  }
  if (!positional.empty()) {
    log::logger().warning("APP_MODULE " + positional[0] + " is ignored: --paste " + cfg.get_string("paste") +
                          " loads the application");
  }
  return -1;
}

// What every load ends with: --print-config, then what narwhal refuses (nothing accepted is
// half-honoured: an unavailable worker class or a refused setting such as certfile without TLS
// stops here, before anything is bound or forked). Returns -1 to go on, else the exit status.
int print_or_refuse(const config::Config& cfg) {
  if (cfg.get_bool("print_config")) {
    std::puts(cfg.print_config().c_str());
    return 0;
  }
  if (std::string reason = refusal(cfg); !reason.empty()) {
    print_error(reason);
    return 1;
  }
  return -1;
}

// An embedding application raised: SystemExit (its do_load_config printed the error) gives its
// status, anything else is printed with its traceback.
int application_error() {
  if (PyErr_ExceptionMatches(PyExc_SystemExit)) {
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    PyErr_NormalizeException(&type, &value, &traceback);
    py::Ref owned_type = py::Ref::steal(type), owned_value = py::Ref::steal(value),
            owned_traceback = py::Ref::steal(traceback);
    py::Ref code = value ? py::Ref::steal(PyObject_GetAttrString(value, "code")) : py::Ref();
    PyErr_Clear();
    if (!code || code.get() == Py_None) return 0;
    long status = PyLong_Check(code.get()) ? PyLong_AsLong(code.get()) : 1;
    PyErr_Clear();
    return static_cast<int>(status);
  }
  print_error(py::format_exception());
  return 1;
}

}  // namespace

// Settings from every source, in gunicorn's precedence. Returns -1 to go on, else an exit status.
int load_settings(const std::vector<std::string>& argv, config::Config& cfg, std::string* app_uri) {
  std::vector<std::string> positional;
  if (int status = apply_command_line(argv, 1, cfg, &positional); status >= 0) return status;
  if (cfg.is_set("paste")) {
    if (int status = resolve_paste(cfg, positional, app_uri); status >= 0) return status;
  } else if (!positional.empty()) {
    *app_uri = positional[0];
  } else if (cfg.is_set("wsgi_app")) {
    *app_uri = cfg.get_string("wsgi_app");
  }
  if (!cfg.get_bool("print_config") && app_uri->empty()) {
    std::fprintf(stderr, "\nError: No application module specified.\n");  // gunicorn's do_load_config
    return 1;
  }
  return print_or_refuse(cfg);
}

int load_application_settings(PyObject* application, bool reload, config::Config& cfg) {
  py::Ref args = py::Ref::steal(Py_BuildValue("(OO)", application, reload ? Py_True : Py_False));
  py::Ref sources = call_glue("application_settings", args.get());
  PyObject *values = nullptr, *command_line = nullptr;
  if (!sources || !PyArg_ParseTuple(sources.get(), "O!O", &PyDict_Type, &values, &command_line)) {
    return application_error();
  }
  if (!apply_config_values(cfg, values)) return 1;
  if (command_line != Py_None) {  // narwhal.app.base.Application: config file < environment < command line
    std::vector<std::string> argv;
    py::Ref sequence = py::Ref::steal(PySequence_Fast(command_line, "the command line must be a list"));
    for (Py_ssize_t i = 0, n = sequence ? PySequence_Fast_GET_SIZE(sequence.get()) : 0; i < n; ++i) {
      const char* word = PyUnicode_AsUTF8(PySequence_Fast_GET_ITEM(sequence.get(), i));
      if (!word) return application_error();
      argv.emplace_back(word);
    }
    if (!sequence) return application_error();
    std::vector<std::string> positional;  // the Application's own business (its init() had them)
    if (int status = apply_command_line(argv, SIZE_MAX, cfg, &positional); status >= 0) return status;
  } else if (report_default_errors(cfg)) {
    return 1;
  }
  // gunicorn's application sees its final settings (self.cfg) in load() and in the hooks.
  py::Ref final_values = py::Ref::steal(settings_to_python(cfg));
  py::Ref update = final_values ? py::Ref::steal(Py_BuildValue("(OO)", application, final_values.get())) : py::Ref();
  if (!update || !call_glue("application_configured", update.get())) return application_error();
  return print_or_refuse(cfg);
}

// gunicorn's UnixSocket: the socket file belongs to the workers' user and group (`-u`/`-g`), so
// a proxy running as that user can connect. A no-op with the default (current) user.
void chown_unix_sockets(const std::vector<net::Listener>& listeners, const config::Config& cfg) {
  const auto uid = static_cast<uid_t>(cfg.get_int("user"));
  const auto gid = static_cast<gid_t>(cfg.get_int("group"));
  if (uid == ::geteuid() && gid == ::getegid()) return;
  for (const net::Listener& listener : listeners) {
    if (listener.address.kind != net::BindAddress::Kind::Unix) continue;
    if (::chown(listener.address.path.c_str(), uid, gid) != 0) {
      log::logger().warning("Can't chown " + listener.address.path + ": " + std::strerror(errno));
    }
  }
}

}  // namespace narwhal::module
