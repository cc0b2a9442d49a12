#include "workers/worker.h"

#include "log/logger.h"

namespace narwhal::workers {

int run_worker(WorkerKind kind, WorkerContext& context, const WorkerOptions& options,
               wsgi::Application& app) {
  wsgi::install_output_release();
  Engine engine(context, options, app);
  switch (kind) {
    case WorkerKind::Sync: return run_sync(engine);
    case WorkerKind::Gthread: return run_gthread(engine);
    case WorkerKind::Gevent:
    case WorkerKind::Asgi: break;  // refused at start-up (registry: not available)
  }
  log::logger().error("No worker body for this worker class");
  return kWorkerBootError;
}

}  // namespace narwhal::workers
