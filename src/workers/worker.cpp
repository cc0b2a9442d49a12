#include "workers/worker.h"

#include <memory>

#include "log/logger.h"

namespace narwhal::workers {

int run_worker(WorkerKind kind, WorkerContext& context, const WorkerOptions& options,
               wsgi::Application& app) {
  wsgi::install_output_release();
  // Never destroyed: a gthread thread or a greenlet still inside a request past
  // graceful_timeout keeps using its connection until the process ends (_exit, right after).
  Engine& engine = *std::make_unique<Engine>(context, options, app).release();
  int status = kWorkerBootError;
  switch (kind) {
    case WorkerKind::Sync: status = run_sync(engine); break;
    case WorkerKind::Gthread: status = run_gthread(engine); break;
    case WorkerKind::Gevent: status = run_gevent(engine); break;
    case WorkerKind::Asgi: status = run_asgi(engine); break;
  }
  // gunicorn's worker_exit, with the GIL (the policies hand it back before returning).
  if (options.hooks.worker_exit) options.hooks.worker_exit();
  return status;
}

}  // namespace narwhal::workers
