// Settings: Config File, Server Socket, Worker Processes.
#include "config/table_rows.h"

namespace narwhal::config {

void add_server_settings(std::vector<Setting>& rows) {
  rows.push_back({
      .name = "config",
      .section = "Config File",
      .flags = {"-c", "--config"},
      .metavar = "CONFIG",
      .type = Type::OptionalString,
      .action = Action::Store,
      .default_value = std::monostate{},
      .default_text = "None (./narwhal.conf.py, then ./gunicorn.conf.py)",
      .validate = validate_optional_string(),
      .short_doc = "The configuration file to load.",
      .doc = "A string of the form `PATH`, `file:PATH`, or `python:MODULE_NAME`.\n\n"
             "When no file is given, `./narwhal.conf.py` is read if it exists, otherwise "
             "`./gunicorn.conf.py` (gunicorn's default), so existing gunicorn config files keep "
             "working unchanged. The file is ordinary Python: every module-level name that matches "
             "a setting sets it; other names are ignored.",
  });
  rows.push_back({
      .name = "wsgi_app",
      .section = "Config File",
      .flags = {},
      .metavar = "STRING",
      .type = Type::OptionalString,
      .action = Action::Store,
      .default_value = std::monostate{},
      .default_text = "",
      .validate = validate_optional_string(),
      .short_doc = "A WSGI application path in pattern `$(MODULE_NAME):$(VARIABLE_NAME)`.",
      .doc = "Used when no application is given on the command line.",
  });
  rows.push_back({
      .name = "bind",
      .section = "Server Socket",
      .flags = {"-b", "--bind"},
      .metavar = "ADDRESS",
      .type = Type::StringList,
      .action = Action::Append,
      .default_value = StringList{"127.0.0.1:8000"},
      .default_text = "['127.0.0.1:8000'] (['0.0.0.0:$PORT'] when $PORT is set)",
      .validate = validate_bind_list(),
      .short_doc = "The socket to bind.",
      .doc = "A string of the form `HOST`, `HOST:PORT`, `[IPV6]:PORT`, `unix:PATH` or `fd://FD`. "
             "An IP is a valid `HOST`. The flag may be repeated to bind several addresses:\n\n"
             "    $ narwhal -b 127.0.0.1:8000 -b [::1]:8000 test:app\n\n"
             "If the `PORT` environment variable is defined, the default is `['0.0.0.0:$PORT']`.",
      .computed_default = from_environment("PORT", "0.0.0.0:"),
  });
  rows.push_back({
      .name = "backlog",
      .section = "Server Socket",
      .flags = {"--backlog"},
      .metavar = "INT",
      .type = Type::Int,
      .action = Action::Store,
      .default_value = int64_t{2048},
      .default_text = "",
      .validate = validate_pos_int(),
      .short_doc = "The maximum number of pending connections.",
      .doc = "The number of clients that can wait to be accepted; beyond it connecting clients get "
             "an error. Generally set in the 64-2048 range.",
      .cli_value = Setting::CliValue::Int,
  });
  rows.push_back({
      .name = "workers",
      .section = "Worker Processes",
      .flags = {"-w", "--workers"},
      .metavar = "INT",
      .type = Type::Int,
      .action = Action::Store,
      .default_value = int64_t{1},
      .default_text = "1 ($WEB_CONCURRENCY when set)",
      .validate = validate_pos_int(),
      .short_doc = "The number of worker processes for handling requests.",
      .doc = "A positive integer generally in the `2-4 x $(NUM_CORES)` range; tune it for your "
             "application's workload.\n\nBy default, the value of the `WEB_CONCURRENCY` environment "
             "variable (set by some platforms such as Heroku), else `1`.",
      .cli_value = Setting::CliValue::Int,
      .computed_default = from_environment("WEB_CONCURRENCY"),
  });
  rows.push_back({
      .name = "worker_class",
      .section = "Worker Processes",
      .flags = {"-k", "--worker-class"},
      .metavar = "STRING",
      .type = Type::String,
      .action = Action::Store,
      .default_value = std::string("sync"),
      .default_text = "",
      .validate = validate_class(),
      .short_doc = "The type of workers to use.",
      .doc = "`sync` (the default) handles one request at a time per worker. `gthread` runs requests "
             "on `threads` threads; `gevent` runs each request in a greenlet (the worker monkey-patches "
             "with gevent before the app is imported; needs Debian's python3-gevent); `asgi` runs ASGI 3 "
             "applications on an asyncio or uvloop event loop (docs/asgi.md). See docs/workers.md. gunicorn's dotted paths "
             "(`gunicorn.workers.sync.SyncWorker`), `egg:gunicorn#sync` and "
             "`uvicorn.workers.UvicornWorker` (`asgi`) name the same workers; any other class, such as "
             "your own Python worker class, is refused: narwhal's workers are C++.\n\n"
             "`sync` with `threads` greater than 1 runs the `gthread` worker, as in gunicorn.",
  });
  rows.push_back({
      .name = "threads",
      .section = "Worker Processes",
      .flags = {"--threads"},
      .metavar = "INT",
      .type = Type::Int,
      .action = Action::Store,
      .default_value = int64_t{1},
      .default_text = "",
      .validate = validate_pos_int(),
      .short_doc = "The number of worker threads for handling requests.",
      .doc = "Runs each worker with this many threads, generally in the `2-4 x $(NUM_CORES)` range. "
             "Only the `gthread` worker uses it; `sync` with more than one thread becomes `gthread`. "
             "In narwhal the threads only run the app: the worker's C++ loop reads every request "
             "head and body before a thread gets it and finishes responses a client is slow to "
             "take, so slow clients never hold a thread (see docs/workers.md).",
      .cli_value = Setting::CliValue::Int,
  });
  rows.push_back({
      .name = "worker_connections",
      .section = "Worker Processes",
      .flags = {"--worker-connections"},
      .metavar = "INT",
      .type = Type::Int,
      .action = Action::Store,
      .default_value = int64_t{1000},
      .default_text = "",
      .validate = validate_pos_int(),
      .short_doc = "The maximum number of simultaneous clients.",
      .doc = "The most connections a worker holds open at once: in gunicorn only the `gthread` and "
             "asynchronous workers use it; in narwhal every worker type does (the sync worker keeps "
             "idle keep-alive connections too). With `gevent` it is also the most requests running "
             "at once (greenlets).",
      .cli_value = Setting::CliValue::Int,
  });
  rows.push_back({
      .name = "max_requests",
      .section = "Worker Processes",
      .flags = {"--max-requests"},
      .metavar = "INT",
      .type = Type::Int,
      .action = Action::Store,
      .default_value = int64_t{0},
      .default_text = "",
      .validate = validate_pos_int(),
      .short_doc = "The maximum number of requests a worker will process before restarting.",
      .doc = "A value greater than zero restarts each worker after that many requests, a simple way "
             "to limit the damage of memory leaks. Zero (the default) disables automatic restarts.",
      .cli_value = Setting::CliValue::Int,
  });
  rows.push_back({
      .name = "max_requests_jitter",
      .section = "Worker Processes",
      .flags = {"--max-requests-jitter"},
      .metavar = "INT",
      .type = Type::Int,
      .action = Action::Store,
      .default_value = int64_t{0},
      .default_text = "",
      .validate = validate_pos_int(),
      .short_doc = "The maximum jitter to add to the *max_requests* setting.",
      .doc = "Each worker's limit becomes `max_requests + randint(0, max_requests_jitter)`, so that "
             "workers do not all restart at the same time.",
      .cli_value = Setting::CliValue::Int,
  });
  rows.push_back({
      .name = "timeout",
      .section = "Worker Processes",
      .flags = {"-t", "--timeout"},
      .metavar = "INT",
      .type = Type::Int,
      .action = Action::Store,
      .default_value = int64_t{30},
      .default_text = "",
      .validate = validate_pos_int(),
      .short_doc = "Workers silent for more than this many seconds are killed and restarted.",
      .doc = "Zero disables the timeout for all workers. For `sync` workers this bounds the time one "
             "request may take; for other workers it only means the worker process stopped "
             "communicating with the master.",
      .cli_value = Setting::CliValue::Int,
  });
  rows.push_back({
      .name = "graceful_timeout",
      .section = "Worker Processes",
      .flags = {"--graceful-timeout"},
      .metavar = "INT",
      .type = Type::Int,
      .action = Action::Store,
      .default_value = int64_t{30},
      .default_text = "",
      .validate = validate_pos_int(),
      .short_doc = "Timeout for graceful workers restart in seconds.",
      .doc = "After a restart or stop signal, workers have this long to finish the requests they are "
             "serving; workers still alive afterwards are force-killed.",
      .cli_value = Setting::CliValue::Int,
  });
  rows.push_back({
      .name = "keepalive",
      .section = "Worker Processes",
      .flags = {"--keep-alive"},
      .metavar = "INT",
      .type = Type::Int,
      .action = Action::Store,
      .default_value = int64_t{2},
      .default_text = "",
      .validate = validate_pos_int(),
      .short_doc = "The number of seconds to wait for requests on a Keep-Alive connection.",
      .doc = "Generally 1-5 seconds when clients connect directly, higher behind a load balancer. "
             "The `sync` worker does not keep connections alive and ignores this setting.",
      .cli_value = Setting::CliValue::Int,
  });
}

}  // namespace narwhal::config
