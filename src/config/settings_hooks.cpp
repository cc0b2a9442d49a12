// Settings: Server Hooks (Python callables, config file only).
//
// gunicorn's defaults are no-op functions; ours are None, which the Python layer treats as "no
// hook". `signature` documents the arguments a hook receives.
#include "config/table_rows.h"

namespace narwhal::config {
namespace {

Setting hook(std::string name, std::string signature, std::string short_doc, std::string doc) {
  return {
      .name = name,
      .section = "Server Hooks",
      .flags = {},
      .metavar = "",
      .type = Type::Callable,
      .action = Action::Store,
      .default_value = std::monostate{},
      .default_text = "",
      .validate = validate_callable(),
      .short_doc = std::move(short_doc),
      .doc = "```python\ndef " + name + "(" + signature + "):\n    pass\n```\n\n" + doc,
  };
}

}  // namespace

void add_hook_settings(std::vector<Setting>& rows) {
  rows.push_back(hook("on_starting", "server", "Called just before the master process is initialized.",
                      "The callable needs to accept a single instance variable for the Arbiter."));
  rows.push_back(hook("on_reload", "server", "Called to recycle workers during a reload via SIGHUP.",
                      "The callable needs to accept a single instance variable for the Arbiter."));
  rows.push_back(hook("when_ready", "server", "Called just after the server is started.",
                      "The callable needs to accept a single instance variable for the Arbiter."));
  rows.push_back(hook("pre_fork", "server, worker", "Called just before a worker is forked.",
                      "The callable needs to accept two instance variables for the Arbiter and the "
                      "new Worker."));
  rows.push_back(hook("post_fork", "server, worker", "Called just after a worker has been forked.",
                      "The callable needs to accept two instance variables for the Arbiter and the "
                      "new Worker."));
  rows.push_back(hook("post_worker_init", "worker",
                      "Called just after a worker has initialized the application.",
                      "The callable needs to accept one instance variable for the initialized Worker."));
  rows.push_back(hook("worker_int", "worker", "Called just after a worker exited on SIGINT or SIGQUIT.",
                      "The callable needs to accept one instance variable for the initialized Worker."));
  rows.push_back(hook("worker_abort", "worker", "Called when a worker received the SIGABRT signal.",
                      "This call generally happens on timeout. The callable needs to accept one "
                      "instance variable for the initialized Worker."));
  rows.push_back(hook("pre_exec", "server", "Called just before a new master process is forked.",
                      "The callable needs to accept a single instance variable for the Arbiter."));
  rows.push_back(hook("pre_request", "worker, req", "Called just before a worker processes the request.",
                      "The callable needs to accept two instance variables for the Worker and the "
                      "Request."));
  rows.push_back(hook("post_request", "worker, req, environ, resp",
                      "Called after a worker processes the request.",
                      "The callable needs to accept two instance variables for the Worker and the "
                      "Request. If a third parameter is defined it is passed the environment; if a "
                      "fourth is defined it is passed the Response."));
  rows.push_back(hook("child_exit", "server, worker",
                      "Called just after a worker has been exited, in the master process.",
                      "The callable needs to accept two instance variables for the Arbiter and the "
                      "just-exited Worker."));
  rows.push_back(hook("worker_exit", "server, worker",
                      "Called just after a worker has been exited, in the worker process.",
                      "The callable needs to accept two instance variables for the Arbiter and the "
                      "just-exited Worker."));
  rows.push_back(hook("nworkers_changed", "server, new_value, old_value",
                      "Called just after *num_workers* has been changed.",
                      "The callable needs to accept an instance variable of the Arbiter and two "
                      "integers of number of workers after and before change. If the number of "
                      "workers is set for the first time, *old_value* is `None`."));
  rows.push_back(hook("on_exit", "server", "Called just before exiting narwhal.",
                      "The callable needs to accept a single instance variable for the Arbiter."));
  rows.push_back(hook("ssl_context", "config, default_ssl_context_factory",
                      "Called when SSLContext is needed.",
                      "Allows customizing the SSL context. The callable receives the Config and a "
                      "factory returning the default `SSLContext` (initialized from *certfile*, "
                      "*keyfile*, *cert_reqs*, *ca_certs* and *ciphers*), and must return an "
                      "`SSLContext`. narwhal calls it in the master, once at start-up and again on "
                      "HUP (gunicorn: for every connection); the workers use that context's OpenSSL "
                      "state. Its `sni_callback` is not supported (docs/tls.md)."));
}

}  // namespace narwhal::config
