// The worker registry: which worker classes narwhal knows, under which names, and which of them
// it can run today. `-k`/`worker_class` (plus `threads`) resolves here once at start-up (and on
// each HUP); the master logs the resolved name and the worker body is chosen by its kind.
// Pure C++: no Python, no sockets, so config and module code can use it anywhere.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace narwhal::workers {

enum class WorkerKind { Sync, Gthread, Gevent, Asgi };

// One row per worker type. `available` is false until the type's worker lands: its names are
// known (a migrated config gets a precise refusal) but start-up refuses them.
struct WorkerType {
  WorkerKind kind;
  std::string_view name;          // gunicorn's short name: "sync", "gthread", "gevent", "asgi"
  std::string_view gunicorn_path;  // gunicorn's class, e.g. "gunicorn.workers.sync.SyncWorker"
  bool available;
  std::string_view not_available_reason;  // when !available: e.g. "comes with issue 11 (gthread)"
};

std::span<const WorkerType> worker_types();
const WorkerType& worker_type(WorkerKind kind);

// The outcome of resolving `worker_class` and `threads`.
struct WorkerClass {
  WorkerKind kind = WorkerKind::Sync;
  std::string name;     // the registry's short name, e.g. "sync"
  // gunicorn's Config.worker_class_str: the name as configured ("egg:gunicorn#sync"), or
  // "gthread" for a sync class with threads > 1. The master logs "Using worker: <display>".
  std::string display;
  std::string error;    // non-empty: refused; one line, without "Error: "
  bool ok() const { return error.empty(); }
};

// `name` as given to -k / worker_class: a short name, a gunicorn or uvicorn dotted path, or
// gunicorn's egg form ("egg:gunicorn#sync"). threads > 1 with a sync class selects gthread, as
// in gunicorn. Unknown names, other dotted paths (a user's Python worker class) and known
// classes that are not available yet come back with `error` set, listing the known names.
WorkerClass resolve_worker_class(std::string_view name, int64_t threads);

// worker_class set to a Python class object in a config file (`repr` is its repr()): always
// refused, narwhal runs its workers in C++.
WorkerClass refuse_python_worker_class(std::string_view repr);

// "sync, gthread, gevent, asgi" and their gunicorn/uvicorn aliases, for error messages and docs.
std::string known_worker_class_names();

}  // namespace narwhal::workers
