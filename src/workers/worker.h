// Running a worker process: the engine with the policy of the worker class.
#pragma once

#include "workers/context.h"
#include "workers/engine.h"
#include "workers/registry.h"
#include "wsgi/handler.h"

namespace narwhal::workers {

// Serves until told to stop (TERM: graceful; INT/QUIT: at once). Returns the exit status.
// Called with the GIL held.
int run_worker(WorkerKind kind, WorkerContext& context, const WorkerOptions& options,
               wsgi::Application& app);

// The policies (one file each).
int run_sync(Engine& engine);
int run_gthread(Engine& engine);
int run_gevent(Engine& engine);
int run_asgi(Engine& engine);

}  // namespace narwhal::workers
