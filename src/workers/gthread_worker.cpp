// The gthread worker's policy (`-k gthread --threads N`): the loop thread owns every connection
// and never holds the GIL for long; a request goes to one of N Python threads only once its head
// is complete and its body buffered (in memory up to body_buffer_size, spooled to a temporary
// file beyond), so slow clients never hold a thread. A thread writes the response while the
// socket takes it; the rest goes to the connection's output queue and the loop finishes it, so
// a client that stops reading never holds a thread either. Keep-alive connections wait in the
// loop. The watchdog: a request running past `timeout` stops the heartbeat, the master's
// timeout fires (every thread's traceback in the error log, worker replaced), as for sync.
#include <Python.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <condition_variable>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "log/logger.h"
#include "python/pyref.h"
#include "workers/request.h"
#include "workers/worker.h"
#include "workers/worker_signals.h"

namespace narwhal::workers {
namespace {

// How often the loop thread takes the GIL to run Python signal handlers and drop the Python
// objects of closed connections (it never waits for the GIL on the request path).
constexpr int64_t kPythonTurnMs = 100;

class GthreadPolicy final : public Policy {
 public:
  explicit GthreadPolicy(Engine& engine) : engine_(engine), wake_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

  bool start() {
    if (!wake_) {
      log::logger().error("eventfd failed: " + std::string(strerror(errno)));
      return false;
    }
    const int count = std::max(engine_.options().threads, 1);
    for (int i = 0; i < count; ++i) runners_.push_back(std::make_unique<RequestRunner>(engine_.options(), engine_.app()));
    // The loop thread gives the GIL away for the whole run (it takes it back in turn()).
    saved_ = PyEval_SaveThread();
    log::set_thread_never_waits(true);  // its error lines wait for turn() under Python logging
    for (int i = 0; i < count; ++i) threads_.emplace_back([this, i] { thread_main(*runners_[static_cast<size_t>(i)]); });
    return true;
  }

  void finish() {
    PyEval_RestoreThread(saved_);
    saved_ = nullptr;
    log::set_thread_never_waits(false);
    log::logger().drain_sink();
    drop_garbage();
    wsgi::drop_released_bytes();
  }

  void dispatch(Connection& connection) override {
    WorkerSignals& signals = worker_signals();
    const bool last = engine_.count_request();
    connection.keep_alive_allowed = engine_.options().keepalive_s > 0 && !engine_.stopping() && !signals.stop_graceful && !last;
    // The thread reads on with its own buffer. The socket stays in the epoll set (no
    // epoll_ctl per request): the client waits for its answer; if it sends more meanwhile, the
    // engine unwatches the connection until the thread is done.
    engine_.stash_input(connection);
    ++running_;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back(&connection);
    }
    ready_.notify_one();
  }

  bool buffers_whole_bodies() const override { return true; }
  bool busy() const override { return running_ > 0; }
  int wake_fd() const override { return wake_.get(); }

  void on_wake() override {
    uint64_t count;
    (void)::read(wake_.get(), &count, sizeof count);  // an eventfd: one read resets it
    std::vector<std::pair<Connection*, bool>> done;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done.swap(done_);
    }
    for (auto& [connection, keep] : done) {
      --running_;
      engine_.request_done(*connection, keep);
      engine_.resume(*connection);
    }
  }

  void turn(int64_t now_ms, bool interrupted) override {
    if (now_ms < next_python_turn_ms_ && !interrupted) return;
    next_python_turn_ms_ = now_ms + kPythonTurnMs;
    PyEval_RestoreThread(saved_);
    log::logger().drain_sink();  // lines (and a USR1 reopen) this thread deferred
    if (PyErr_CheckSignals() < 0) log::logger().error("Exception in a signal handler\n" + py::format_exception());
    drop_garbage();
    wsgi::drop_released_bytes();
    saved_ = PyEval_SaveThread();
  }

  // Without the GIL: the connection's Python objects wait for a thread that holds it.
  void release(Connection& connection) override {
    if (!connection.peer) return;
    std::lock_guard<std::mutex> lock(mutex_);
    garbage_.push_back(std::move(*connection.peer));
    connection.peer.reset();  // moved-from: holds no references
  }

  int64_t heartbeat_value(int64_t now_ms) override {
    const int64_t limit = static_cast<int64_t>(engine_.options().timeout_s) * 1000;
    for (const auto& runner : runners_) {
      const int64_t started = runner->running_since();
      // The exchange cuts waits on the client at `timeout`; a request still running a second
      // later is stuck in the app.
      if (started > 0 && now_ms - started > limit + 1000) return started;
    }
    return now_ms;
  }

 private:
  void thread_main(RequestRunner& runner) {
    PyGILState_STATE gil = PyGILState_Ensure();
    (void)gil;  // the thread state lives as long as the thread
    PyThreadState* state = PyEval_SaveThread();
    ReadBuffer input(64 * 1024);
    WorkerSignals& signals = worker_signals();
    for (;;) {
      Connection* connection;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        ready_.wait(lock, [this] { return quitting_ || !queue_.empty(); });
        if (quitting_) break;
        connection = queue_.front();
        queue_.pop_front();
      }
      if (!connection->stash.empty()) {
        std::memcpy(input.write_position(), connection->stash.data(), connection->stash.size());
        input.commit(connection->stash.size());
        connection->stash.clear();
      }
      RunSettings settings;
      settings.keep_alive = connection->keep_alive_allowed;
      settings.stop_requested = &signals.stop_graceful;
      PyEval_RestoreThread(state);
      drop_garbage();
      const bool keep = runner.run(*connection, input, settings);
      state = PyEval_SaveThread();
      if (!input.empty()) {
        connection->stash.assign(input.data(), input.size());  // pipelined: back to the loop
        input.clear();
      }
      {
        std::lock_guard<std::mutex> lock(mutex_);
        done_.emplace_back(connection, keep);
      }
      const uint64_t one = 1;
      if (::write(wake_.get(), &one, sizeof one) < 0 && errno != EAGAIN) {
        log::logger().error("eventfd write failed: " + std::string(strerror(errno)));
      }
    }
    PyEval_RestoreThread(state);
    PyEval_SaveThread();
  }

  // With the GIL held.
  void drop_garbage() {
    std::vector<wsgi::Peer> garbage;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      garbage.swap(garbage_);
    }
  }

  Engine& engine_;
  UniqueFd wake_;
  std::vector<std::unique_ptr<RequestRunner>> runners_;
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<Connection*> queue_;                    // requests waiting for a thread
  std::vector<std::pair<Connection*, bool>> done_;  // finished, for the loop
  std::vector<wsgi::Peer> garbage_;                  // Python objects to drop with the GIL
  bool quitting_ = false;
  int running_ = 0;  // dispatched and not done (loop thread only)
  PyThreadState* saved_ = nullptr;
  int64_t next_python_turn_ms_ = 0;
};

}  // namespace

int run_gthread(Engine& engine) {
  auto policy = std::make_unique<GthreadPolicy>(engine);
  if (!policy->start()) return 1;
  int status = engine.run(*policy);
  policy->finish();
  // Deliberately never destroyed: its threads wait on its queue (or are still inside the app
  // after graceful_timeout), and the worker process ends with _exit() right after this. Tearing
  // the queue down under them would be a use after free; joining a thread stuck in the app
  // would hang the exit.
  policy.release();
  return status;
}

}  // namespace narwhal::workers
