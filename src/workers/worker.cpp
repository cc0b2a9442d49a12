#include "workers/worker.h"

namespace narwhal::workers {

int run_worker(WorkerType type, arbiter::WorkerContext& context, const WorkerOptions& options,
               wsgi::Application& app) {
  wsgi::install_output_release();
  Engine engine(context, options, app);
  switch (type) {
    case WorkerType::Sync: return run_sync(engine);
    case WorkerType::Gthread: return run_gthread(engine);
  }
  return 1;
}

}  // namespace narwhal::workers
