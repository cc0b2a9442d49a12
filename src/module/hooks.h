// gunicorn's server hooks (on_starting ... on_exit), called from the master and the workers with
// gunicorn's arguments. The `server`, `worker`, `req` and `resp` objects are the small Python
// stand-ins of narwhal/_server.py; docs/hooks.md lists what they offer.
//
// A hook that raises is logged with its traceback; it never stops the master or the worker. An
// unset hook costs nothing: the arbiter and worker callbacks are only installed for set hooks.
// Every method must be called with the GIL held.
#pragma once

#include <sys/types.h>

#include <array>
#include <map>
#include <string>

#include "arbiter/arbiter.h"
#include "config/config.h"
#include "python/pyref.h"
#include "workers/worker_hooks.h"

namespace narwhal::module {

enum class Hook {
  OnStarting,
  OnReload,
  WhenReady,
  PreFork,
  PostFork,
  PostWorkerInit,
  WorkerInt,
  WorkerAbort,
  PreExec,
  PreRequest,
  PostRequest,
  ChildExit,
  WorkerExit,
  NworkersChanged,
  OnExit,
  Count
};

class Hooks {
 public:
  // Reads the hook settings and creates the Python `server` object. False (Python error logged)
  // if narwhal._server cannot be imported. `proc_name` is gunicorn's default_proc_name.
  bool init(const config::Config& cfg, const std::string& app_uri, const std::string& proc_name);
  bool has(Hook hook) const { return static_cast<bool>(hooks_[static_cast<size_t>(hook)]); }
  PyObject* server() const { return server_.get(); }  // the Python `server` (its .cfg: the ssl_context hook's config)

  // In the master.
  void on_starting() { call_with_server(Hook::OnStarting); }
  void when_ready() { call_with_server(Hook::WhenReady); }
  void on_reload() { call_with_server(Hook::OnReload); }
  void pre_exec() { call_with_server(Hook::PreExec); }
  void on_exit() { call_with_server(Hook::OnExit); }
  void nworkers_changed(int new_value, int old_value);  // old_value < 0: None (first time)
  void pre_fork(int age);
  void child_exit(pid_t pid, int age);
  // Installs the arbiter callbacks: on_starting, when_ready, pre_fork, child_exit,
  // nworkers_changed, pre_exec, on_exit. `this` must outlive the arbiter. init() may run again (reload) meanwhile.
  void add_arbiter_callbacks(arbiter::Callbacks& callbacks);

  // In a worker, in this order: begin_worker (creates `worker`, runs post_fork), set_app once
  // the app is loaded, install_worker_signals (SIGABRT: tracebacks + worker_abort),
  // post_worker_init, then worker_hooks() for the sync worker's loop.
  void begin_worker(const arbiter::WorkerContext& context);
  void set_app(PyObject* app);
  void install_worker_signals();
  void start_reloader(const config::StringList& extra_files);
  void post_worker_init();
  workers::WorkerHooks worker_hooks();
  // worker_exit(server, worker) outside the sync loop (a worker that failed to boot).
  void worker_exit();

 private:
  const py::Ref& hook(Hook which) const { return hooks_[static_cast<size_t>(which)]; }
  void call_with_server(Hook which);
  // Calls the hook with `args` (a new tuple, stolen); logs a raised exception.
  void call(Hook which, PyObject* args);
  py::Ref make_request(const http::RequestHead& head);
  py::Ref pre_request(const http::RequestHead& head);
  void post_request(const http::RequestHead& head, const py::Ref& request, PyObject* environ, int status);

  std::array<py::Ref, static_cast<size_t>(Hook::Count)> hooks_;
  py::Ref module_;  // narwhal._server
  py::Ref server_;
  py::Ref worker_;  // in a worker
  std::map<int, py::Ref> pending_workers_;  // master: by age, from pre_fork until child_exit
};

// The request's header fields as gunicorn's req.headers: [(name, value)], Latin-1 (PEP 3333).
// GIL held; null with a Python error set.
py::Ref request_header_pairs(const http::RequestHead& head);

// narwhal._core.log(level, text) and narwhal._core.reopen_logs(): server.log writes through
// the C++ logger. Adds them to the module; false with a Python error set on failure.
bool add_log_functions(PyObject* module);

// config::Value → Python (Callable → its object). New reference, never null (None on failure).
PyObject* to_python(const config::Value& value);
// Every setting of `cfg` as a dict {name: value}. New reference; null with a Python error set.
PyObject* settings_to_python(const config::Config& cfg);

}  // namespace narwhal::module
