// The sync worker's policy: the loop thread runs the app itself, one request at a time (like
// gunicorn's sync worker), holding the GIL except while it waits in epoll. The engine reads
// request heads and small bodies before the app is called, keeps connections alive, serves
// pipelined requests, and finishes responses a slow client has not taken yet.
#include <Python.h>

#include "workers/heartbeat.h"
#include "log/logger.h"
#include "python/pyref.h"
#include "workers/request.h"
#include "workers/worker.h"
#include "workers/worker_signals.h"

namespace narwhal::workers {
namespace {

class SyncPolicy final : public Policy {
 public:
  explicit SyncPolicy(Engine& engine) : engine_(engine), runner_(engine.options(), engine.app()) {}

  void dispatch(Connection& connection) override {
    WorkerSignals& signals = worker_signals();
    const bool last = engine_.count_request();
    RunSettings settings;
    settings.keep_alive = engine_.options().keepalive_s > 0 && !engine_.stopping() && !signals.stop_graceful && !last;
    settings.heartbeat = engine_.context().heartbeat;
    settings.stop_requested = &signals.stop_graceful;
    const bool keep = runner_.run(connection, engine_.input(), settings);
    const int64_t now = heartbeat_now_ms();
    engine_.set_now_ms(now);
    beat(engine_.context().heartbeat, now);
    engine_.request_done(connection, keep);
  }
  bool buffers_whole_bodies() const override { return false; }
  bool busy() const override { return false; }
  void before_wait() override { saved_ = PyEval_SaveThread(); }
  void after_wait() override { PyEval_RestoreThread(saved_); }
  void turn(int64_t, bool) override {
    // Python-level signal handlers (SIGABRT's timeout tracebacks, the app's own) run only when
    // the main thread runs Python: give them their turn.
    if (PyErr_CheckSignals() < 0) log::logger().error("Exception in a signal handler\n" + py::format_exception());
  }
  void release(Connection& connection) override { connection.peer.reset(); }  // GIL held

 private:
  Engine& engine_;
  RequestRunner runner_;
  PyThreadState* saved_ = nullptr;
};

}  // namespace

int run_sync(Engine& engine) {
  SyncPolicy policy(engine);
  return engine.run(policy);
}

}  // namespace narwhal::workers
