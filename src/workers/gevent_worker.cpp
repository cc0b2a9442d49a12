// The gevent worker's policy (`-k gevent`): the engine's loop runs in the main greenlet and,
// instead of blocking in epoll_wait, waits for its epoll descriptor through gevent's hub, so the
// hub runs the requests meanwhile. Each ready request runs in a greenlet of a reused pool (the
// app may block "cooperatively": monkey-patched sockets, time.sleep, requests, …); every wait on
// the client there (a streamed body, a response the socket does not take at once) yields to the
// hub through a gevent wait on the fd, with the C++ frames on the greenlet's stack. Parsing,
// environ building and response framing stay the sync worker's code. A finished request goes
// back to the loop through a list and a wake-up of the main greenlet (no syscall).
// The watchdog: the loop beats the heartbeat each turn; a greenlet that blocks the hub (CPU-bound
// code, a non-cooperative C call) stops it, and the master's timeout fires (the running
// greenlet's traceback in the error log, worker replaced), as gunicorn's gevent worker.
#include <Python.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "log/logger.h"
#include "python/pyref.h"
#include "workers/request.h"
#include "workers/worker.h"
#include "workers/worker_signals.h"

namespace narwhal::workers {
namespace {

// Waits on a client socket from a request greenlet: a gevent wait (the hub runs the others).
// Called with or without the GIL (the exchange's callers release it around waits).
class GeventWaiter final : public wsgi::Waiter {
 public:
  explicit GeventWaiter(PyObject* hub) : hub_(hub) {}

  int wait(int fd, bool for_write, int timeout_ms) override {
    PyGILState_STATE gil = PyGILState_Ensure();
    py::Ref ready = py::Ref::steal(PyObject_CallMethod(hub_, "wait_fd", "iOd", fd, for_write ? Py_True : Py_False,
                                                       static_cast<double>(timeout_ms) / 1000.0));
    int result = -ECANCELED;  // killed or interrupted (an exception thrown into the greenlet)
    if (ready) result = PyObject_IsTrue(ready.get()) ? 1 : 0;
    else PyErr_Clear();
    PyGILState_Release(gil);
    return result;
  }

  void pause(int ms) override {
    PyGILState_STATE gil = PyGILState_Ensure();
    py::Ref done = py::Ref::steal(PyObject_CallMethod(hub_, "sleep", "d", static_cast<double>(ms) / 1000.0));
    if (!done) PyErr_Clear();
    PyGILState_Release(gil);
  }

 private:
  PyObject* hub_;  // borrowed: the policy owns it
};

// What one running request uses; reused by the next (free list), one per concurrent request.
struct Slot {
  Slot(const WorkerOptions& options, wsgi::Application& app) : runner(options, app), input(64 * 1024) {}
  RequestRunner runner;
  ReadBuffer input;
};

class GeventPolicy final : public Policy {
 public:
  explicit GeventPolicy(Engine& engine) : engine_(engine) {}

  // With the GIL held (always, in this worker: the main greenlet never releases it).
  bool start() {
    py::Ref capsule = py::Ref::steal(PyCapsule_New(this, "narwhal.gevent_policy", nullptr));
    static PyMethodDef serve_def = {"serve", serve_entry, METH_O, "Runs one request (a pooled greenlet)."};
    py::Ref serve = capsule ? py::Ref::steal(PyCFunction_New(&serve_def, capsule.get())) : py::Ref();
    py::Ref module = py::Ref::steal(PyImport_ImportModule("narwhal._gevent"));
    if (serve && module) {
      hub_ = py::Ref::steal(PyObject_CallMethod(module.get(), "Hub", "iO", engine_.loop_fd(), serve.get()));
    }
    if (!hub_) {
      log::logger().error("Can't start the gevent worker\n" + py::format_exception());
      return false;
    }
    waiter_ = std::make_unique<GeventWaiter>(hub_.get());
    return true;
  }

  void dispatch(Connection& connection) override {
    WorkerSignals& signals = worker_signals();
    const bool last = engine_.count_request();
    connection.keep_alive_allowed = engine_.options().keepalive_s > 0 && !engine_.stopping() && !signals.stop_graceful && !last;
    engine_.stash_input(connection);  // the greenlet reads on with its own buffer
    py::Ref token = py::Ref::steal(PyLong_FromVoidPtr(&connection));
    py::Ref scheduled = token ? py::Ref::steal(PyObject_CallMethod(hub_.get(), "dispatch", "O", token.get())) : py::Ref();
    if (!scheduled) {
      // Cannot happen short of memory: the request is answered as a failed one.
      log::logger().error("Can't start a greenlet for a request\n" + py::format_exception());
      engine_.request_done(connection, false);
      return;
    }
    ++running_;
  }

  bool buffers_whole_bodies() const override { return false; }  // larger bodies stream, as in sync
  bool busy() const override { return running_ > 0; }

  int wait_cooperatively(int, int timeout_ms) override {
    if (!done_.empty()) return 0;  // finished requests to take back first
    loop_woken_ = false;
    py::Ref waited = py::Ref::steal(PyObject_CallMethod(hub_.get(), "wait_loop", "d", static_cast<double>(timeout_ms) / 1000.0));
    if (!waited) {
      // An exception thrown into the main greenlet (a Python signal handler's): logged, and the
      // loop goes on (its stop flags are C++).
      if (!PyErr_ExceptionMatches(PyExc_KeyboardInterrupt) && !PyErr_ExceptionMatches(PyExc_SystemExit)) {
        log::logger().error("Exception in the gevent worker's loop\n" + py::format_exception());
      }
      PyErr_Clear();
    }
    return 0;
  }

  void turn(int64_t, bool) override {
    if (PyErr_CheckSignals() < 0) log::logger().error("Exception in a signal handler\n" + py::format_exception());
    std::vector<std::pair<Connection*, bool>> done;
    done.swap(done_);
    for (auto& [connection, keep] : done) {
      --running_;
      engine_.request_done(*connection, keep);
      engine_.resume(*connection);
    }
  }

  void release(Connection& connection) override { connection.peer.reset(); }  // GIL held

  void finish() {
    if (running_ > 0) {
      // gunicorn: "Worker graceful timeout"; the process ends under the greenlets still running.
      log::logger().warning("Worker graceful timeout (pid:" + std::to_string(getpid()) + "): " +
                            std::to_string(running_) + " request(s) still running are abandoned");
    }
  }

 private:
  static PyObject* serve_entry(PyObject* capsule, PyObject* token) {
    auto* policy = static_cast<GeventPolicy*>(PyCapsule_GetPointer(capsule, "narwhal.gevent_policy"));
    auto* connection = static_cast<Connection*>(PyLong_AsVoidPtr(token));
    if (!policy || !connection) return nullptr;
    policy->serve(*connection);
    Py_RETURN_NONE;
  }

  // In a pooled greenlet, with the GIL.
  void serve(Connection& connection) {
    std::unique_ptr<Slot> slot;
    if (free_slots_.empty()) {
      slot = std::make_unique<Slot>(engine_.options(), engine_.app());
    } else {
      slot = std::move(free_slots_.back());
      free_slots_.pop_back();
    }
    ReadBuffer& input = slot->input;
    if (!connection.stash.empty()) {
      std::memcpy(input.write_position(), connection.stash.data(), connection.stash.size());
      input.commit(connection.stash.size());
      connection.stash.clear();
    }
    RunSettings settings;
    settings.keep_alive = connection.keep_alive_allowed;
    settings.stop_requested = &worker_signals().stop_graceful;
    settings.waiter = waiter_.get();
    const bool keep = slot->runner.run(connection, input, settings);
    if (!input.empty()) {
      connection.stash.assign(input.data(), input.size());  // pipelined: back to the loop
      input.clear();
    }
    free_slots_.push_back(std::move(slot));
    done_.emplace_back(&connection, keep);
    if (!loop_woken_) {
      loop_woken_ = true;
      py::Ref woken = py::Ref::steal(PyObject_CallMethod(hub_.get(), "wake", nullptr));
      if (!woken) PyErr_Clear();
    }
  }

  Engine& engine_;
  py::Ref hub_;  // narwhal._gevent.Hub
  std::unique_ptr<GeventWaiter> waiter_;
  std::vector<std::unique_ptr<Slot>> free_slots_;
  std::vector<std::pair<Connection*, bool>> done_;  // finished, for the loop
  bool loop_woken_ = false;
  int running_ = 0;
};

}  // namespace

int run_gevent(Engine& engine) {
  auto policy = std::make_unique<GeventPolicy>(engine);
  if (!policy->start()) return 1;
  const int status = engine.run(*policy);
  policy->finish();
  // Deliberately never destroyed (as gthread's): greenlets still inside a request would use it
  // if anything after this yields to the hub; the process ends with _exit() soon after.
  policy.release();
  return status;
}

}  // namespace narwhal::workers
