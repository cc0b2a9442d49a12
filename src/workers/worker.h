// Running a worker process: the engine with the policy of the worker class.
#pragma once

#include "arbiter/arbiter.h"
#include "workers/engine.h"
#include "wsgi/handler.h"

namespace narwhal::workers {

enum class WorkerType { Sync, Gthread };

// Serves until told to stop (TERM: graceful; INT/QUIT: at once). Returns the exit status.
// Called with the GIL held.
int run_worker(WorkerType type, arbiter::WorkerContext& context, const WorkerOptions& options,
               wsgi::Application& app);

// The policies (one file each).
int run_sync(Engine& engine);
int run_gthread(Engine& engine);

}  // namespace narwhal::workers
