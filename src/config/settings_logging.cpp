// Settings: Logging, Process Naming.
#include "config/table_rows.h"

namespace narwhal::config {

namespace {

Setting logging_flag(std::string name, std::string flag, std::string short_doc, std::string doc) {
  return {
      .name = std::move(name),
      .section = "Logging",
      .flags = {std::move(flag)},
      .metavar = "",
      .type = Type::Bool,
      .action = Action::StoreTrue,
      .default_value = false,
      .default_text = "",
      .validate = validate_bool(),
      .short_doc = std::move(short_doc),
      .doc = std::move(doc),
  };
}

Setting logging_text(std::string name, std::vector<std::string> flags, std::string metavar,
                     Value default_value, std::string short_doc, std::string doc) {
  bool optional = std::holds_alternative<std::monostate>(default_value);
  return {
      .name = std::move(name),
      .section = "Logging",
      .flags = std::move(flags),
      .metavar = std::move(metavar),
      .type = optional ? Type::OptionalString : Type::String,
      .action = Action::Store,
      .default_value = std::move(default_value),
      .default_text = "",
      .validate = optional ? validate_optional_string() : validate_string(),
      .short_doc = std::move(short_doc),
      .doc = std::move(doc),
  };
}

}  // namespace

void add_logging_settings(std::vector<Setting>& rows) {
  rows.push_back(logging_text("accesslog", {"--access-logfile"}, "FILE", std::monostate{},
                              "The Access log file to write to.", "`'-'` means log to stdout."));
  rows.push_back(logging_flag("disable_redirect_access_to_syslog", "--disable-redirect-access-to-syslog",
                              "Disable redirect access logs to syslog.", ""));
  rows.push_back(logging_text(
      "access_log_format", {"--access-logformat"}, "STRING",
      std::string("%(h)s %(l)s %(u)s %(t)s \"%(r)s\" %(s)s %(b)s \"%(f)s\" \"%(a)s\""),
      "The access log format.",
      "| Identifier | Description |\n|---|---|\n"
      "| h | remote address |\n| l | `'-'` |\n| u | user name (if HTTP Basic auth used) |\n"
      "| t | date of the request |\n| r | status line (e.g. `GET / HTTP/1.1`) |\n"
      "| m | request method |\n| U | URL path without query string |\n| q | query string |\n"
      "| H | protocol |\n| s | status |\n| B | response length |\n"
      "| b | response length or `'-'` (CLF format) |\n| f | referrer (note: header is `referer`) |\n"
      "| a | user agent |\n| T | request time in seconds |\n| M | request time in milliseconds |\n"
      "| D | request time in microseconds |\n| L | request time in decimal seconds |\n"
      "| p | process ID |\n| {header}i | request header |\n| {header}o | response header |\n"
      "| {variable}e | environment variable |\n"
      "| Q | queue time in milliseconds: from the request's arrival (or a trusted proxy's "
      "`X-Request-Start`) to the app being called (narwhal's own; docs/metrics.md) |\n\n"
      "Use lowercase for header and environment variable names, and put `{...}x` names inside "
      "`%(...)s`, for example `%({x-forwarded-for}i)s`."));
  rows.push_back(logging_text("errorlog", {"--error-logfile", "--log-file"}, "FILE", std::string("-"),
                              "The Error log file to write to.",
                              "Using `'-'` for FILE makes narwhal log to stderr."));
  rows.push_back({
      .name = "loglevel",
      .section = "Logging",
      .flags = {"--log-level"},
      .metavar = "LEVEL",
      .type = Type::String,
      .action = Action::Store,
      .default_value = std::string("info"),
      .default_text = "",
      .validate = validate_choice({"debug", "info", "warning", "error", "critical"}),
      .short_doc = "The granularity of Error log outputs.",
      .doc = "Valid level names are `debug`, `info`, `warning`, `error` and `critical` (any case). "
             "gunicorn silently treats unknown names as `info`; narwhal rejects them.",
  });
  rows.push_back(logging_flag("capture_output", "--capture-output",
                              "Redirect stdout/stderr to specified file in *errorlog*.",
                              "Only when *errorlog* is a file; followed again after USR1 reopens it."));
  rows.push_back({
      .name = "logger_class",
      .section = "Logging",
      .flags = {"--logger-class"},
      .metavar = "STRING",
      .type = Type::String,
      .action = Action::Store,
      .default_value = std::string("gunicorn.glogging.Logger"),
      .default_text = "",
      .validate = validate_class(),
      .short_doc = "The logger you want to use to log events in narwhal.",
      .doc = "The default, `gunicorn.glogging.Logger` (also `simple`, and "
             "`gunicorn.instrument.statsd.Statsd`: statsd is always narwhal's own), is narwhal's C++ "
             "logger; it needs no gunicorn installed. Any other class (a dotted path, "
             "`egg:DIST#NAME` from the `gunicorn.loggers` entry points, or a class object in a "
             "config file) is created once in the master as `cls(cfg)` and receives every error "
             "line (`critical/error/warning/info/debug`) and every request (`access(resp, req, "
             "environ, request_time)`), in the master and in each worker, through Python "
             "`logging` (docs/migration.md, \"Logging through Python logging\"). A subclass of "
             "`gunicorn.glogging.Logger` needs gunicorn importable; narwhal's own compatible base "
             "class is `narwhal.glogging.Logger`.",
  });
  rows.push_back(logging_text("logconfig", {"--log-config"}, "FILE", std::monostate{},
                              "The log config file to use.",
                              "Uses the standard Python logging module's configuration file format "
                              "(`logging.config.fileConfig`, with the defaults `__file__` and `here`). "
                              "Setting it sends narwhal's error and access lines through Python "
                              "`logging` (loggers `gunicorn.error` and `gunicorn.access`); a missing or "
                              "invalid file stops the start-up."));
  rows.push_back({
      .name = "logconfig_dict",
      .section = "Logging",
      .flags = {},
      .metavar = "",
      .type = Type::StringMap,
      .action = Action::Store,
      .default_value = StringMap{},
      .default_text = "",
      .validate = validate_python_dict(),
      .short_doc = "The log config dictionary to use.",
      .doc = "Uses the standard Python logging module's dictionary configuration format "
             "(`logging.config.dictConfig`), applied over gunicorn's defaults (the loggers "
             "`gunicorn.error` and `gunicorn.access` and their handlers; top-level keys replace "
             "the defaults' keys). Takes precedence over *logconfig* and *logconfig_json*. "
             "Setting it sends narwhal's error and access lines through Python `logging`; a "
             "configuration `dictConfig` refuses stops the start-up.",
      .python_value = true,
  });
  rows.push_back(logging_text("logconfig_json", {"--log-config-json"}, "FILE", std::monostate{},
                              "The log config to read config from a JSON file.",
                              "Format: `logging.config.dictConfig` as JSON, applied like "
                              "*logconfig_dict* (which takes precedence); takes precedence over "
                              "*logconfig*. A missing file or invalid JSON stops the start-up."));
  rows.push_back(logging_text("syslog_addr", {"--log-syslog-to"}, "SYSLOG_ADDR",
                              std::string("udp://localhost:514"), "Address to send syslog messages.",
                              "A string of the form `unix://PATH#TYPE` (a unix domain socket; `TYPE` "
                              "is `stream`, the default, or `dgram`), `udp://HOST:PORT` or "
                              "`tcp://HOST:PORT`. Each line is sent as Python's SysLogHandler "
                              "does for gunicorn: `<PRI>gunicorn.<prefix>.error: [pid] message` "
                              "(`.access` for access lines), NUL-terminated; sending never blocks."));
  rows.push_back(logging_flag("syslog", "--log-syslog", "Send narwhal logs to syslog.",
                              "Access logs go to syslog too unless "
                              "*disable_redirect_access_to_syslog* is set."));
  rows.push_back(logging_text("syslog_prefix", {"--log-syslog-prefix"}, "SYSLOG_PREFIX", std::monostate{},
                              "Makes narwhal use the parameter as program-name in the syslog entries.",
                              "All entries will be prefixed by `gunicorn.<prefix>`. By default the "
                              "program name is the name of the process."));
  rows.push_back(logging_text("syslog_facility", {"--log-syslog-facility"}, "SYSLOG_FACILITY",
                              std::string("user"), "Syslog facility name.", "An unknown name stops the start-up."));
  rows.push_back({
      .name = "enable_stdio_inheritance",
      .section = "Logging",
      .flags = {"-R", "--enable-stdio-inheritance"},
      .metavar = "",
      .type = Type::Bool,
      .action = Action::StoreTrue,
      .default_value = false,
      .default_text = "",
      .validate = validate_bool(),
      .short_doc = "Enable stdio inheritance.",
      .doc = "Enable inheritance for stdio file descriptors in daemon mode. To disable Python's "
             "stdout buffering, set the `PYTHONUNBUFFERED` environment variable.",
  });
  rows.push_back({
      .name = "statsd_host",
      .section = "Logging",
      .flags = {"--statsd-host"},
      .metavar = "STATSD_ADDR",
      .type = Type::OptionalString,
      .action = Action::Store,
      .default_value = std::monostate{},
      .default_text = "",
      .validate = validate_statsd_address(),
      .short_doc = "The address of the StatsD server to log to.",
      .doc = "A string of the form `unix://PATH` (a unix domain socket) or `HOST:PORT` (port 8125 "
             "when omitted). Metrics have gunicorn's names and types: `gunicorn.requests`, "
             "`gunicorn.request.status.NNN` (counters), `gunicorn.request.duration` (ms), "
             "`gunicorn.workers` (gauge), `gunicorn.backlog` (with `enable_backlog_metric`), "
             "`gunicorn.log.warning|error|critical|exception` (counters). narwhal buffers a loop "
             "turn's metrics into one datagram (lines separated by newlines) and never blocks on "
             "the socket.",
  });
  rows.push_back(logging_text("dogstatsd_tags", {"--dogstatsd-tags"}, "DOGSTATSD_TAGS", std::string(""),
                              "A comma-delimited list of datadog statsd (dogstatsd) tags to append to "
                              "statsd metrics.",
                              "For example `'tag1:value1,tag2:value2'`."));
  rows.push_back(logging_text("statsd_prefix", {"--statsd-prefix"}, "STATSD_PREFIX", std::string(""),
                              "Prefix to use when emitting statsd metrics.",
                              "A trailing `.` is added if not provided."));
  rows.push_back(logging_flag("enable_backlog_metric", "--enable-backlog-metric",
                              "Enable socket backlog metric (only supported on Linux).",
                              "Emits a `gunicorn.backlog` histogram with the number of connections "
                              "waiting in the listen backlog."));
  rows.push_back({
      .name = "proc_name",
      .section = "Process Naming",
      .flags = {"-n", "--name"},
      .metavar = "STRING",
      .type = Type::OptionalString,
      .action = Action::Store,
      .default_value = std::monostate{},
      .default_text = "",
      .validate = validate_optional_string(),
      .short_doc = "A base to use with setproctitle for process naming.",
      .doc = "This affects things like `ps` and `top`; set it to tell several narwhal instances "
             "apart. If not set, the *default_proc_name* setting will be used.",
  });
  rows.push_back({
      .name = "default_proc_name",
      .section = "Process Naming",
      .flags = {},
      .metavar = "",
      .type = Type::String,
      .action = Action::Store,
      .default_value = std::string("narwhal"),
      .default_text = "",
      .validate = validate_string(),
      .short_doc = "Internal setting that is adjusted for each type of application.",
      .doc = "Set to the application module given on the command line (gunicorn's default is "
             "`'gunicorn'`).",
  });
}

}  // namespace narwhal::config
