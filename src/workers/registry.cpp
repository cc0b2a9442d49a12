#include "workers/registry.h"

#include <algorithm>
#include <array>
#include <cstdlib>

namespace narwhal::workers {
namespace {

// The worker types, in gunicorn's order. A worker type becomes available by flipping its
// `available` flag here once its worker body exists (and worker_main in src/module/startup.cpp
// dispatches its kind). For gthread, also mark `threads` implemented in
// src/config/settings_server.cpp.
constexpr std::array<WorkerType, 4> kWorkerTypes{{
    {WorkerKind::Sync, "sync", "gunicorn.workers.sync.SyncWorker", true, ""},
    {WorkerKind::Gthread, "gthread", "gunicorn.workers.gthread.ThreadWorker", true, ""},
    {WorkerKind::Gevent, "gevent", "gunicorn.workers.ggevent.GeventWorker", true, ""},
    {WorkerKind::Asgi, "asgi", "gunicorn.workers.gasgi.ASGIWorker", true, ""},
}};

// Other names for the same worker types: gunicorn's SUPPORTED_WORKERS aliases and the uvicorn
// worker classes commonly given to gunicorn (uvicorn.workers, and the uvicorn-worker package).
struct Alias {
  std::string_view name;
  WorkerKind kind;
};
constexpr std::array<Alias, 7> kAliases{{
    {"gevent_wsgi", WorkerKind::Gevent},
    {"gevent_pywsgi", WorkerKind::Gevent},
    {"gunicorn.workers.ggevent.GeventPyWSGIWorker", WorkerKind::Gevent},
    {"uvicorn.workers.UvicornWorker", WorkerKind::Asgi},
    {"uvicorn.workers.UvicornH11Worker", WorkerKind::Asgi},
    {"uvicorn_worker.UvicornWorker", WorkerKind::Asgi},
    {"uvicorn_worker.UvicornH11Worker", WorkerKind::Asgi},
}};

// gunicorn worker classes narwhal does not plan to provide.
constexpr std::array<std::string_view, 4> kNotProvided{
    "eventlet", "gunicorn.workers.geventlet.EventletWorker", "tornado", "gunicorn.workers.gtornado.TornadoWorker"};

const WorkerType* find_kind(std::string_view name) {
  for (const WorkerType& type : kWorkerTypes) {
    if (name == type.name || name == type.gunicorn_path) return &type;
  }
  for (const Alias& alias : kAliases) {
    if (name == alias.name) return &worker_type(alias.kind);
  }
  return nullptr;
}

// gunicorn's util.load_class: "egg:gunicorn#NAME" names an entry point of the gunicorn
// distribution; a bare "#NAME" is a short name.
std::string_view strip_egg(std::string_view name) {
  constexpr std::string_view kEgg = "egg:gunicorn#";
  if (name.starts_with(kEgg)) return name.substr(kEgg.size());
  if (name.starts_with('#')) return name.substr(1);
  return name;
}

std::string quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

WorkerClass refused(std::string message) {
  WorkerClass result;
  result.error = std::move(message) + "; " + known_worker_class_names();
  return result;
}

}  // namespace

std::span<const WorkerType> worker_types() { return kWorkerTypes; }

const WorkerType& worker_type(WorkerKind kind) {
  for (const WorkerType& type : kWorkerTypes) {
    if (type.kind == kind) return type;
  }
  std::abort();  // every kind has a row
}

std::string known_worker_class_names() {
  std::string available, pending;
  for (const WorkerType& type : kWorkerTypes) {
    std::string& list = type.available ? available : pending;
    if (!list.empty()) list += ", ";
    list += type.name;
  }
  std::string text = "known worker classes: " + available;
  if (!pending.empty()) text += "; not available yet: " + pending;
  return text + " (each also as gunicorn's dotted path, e.g. gunicorn.workers.sync.SyncWorker, or "
                "egg:gunicorn#NAME; uvicorn.workers.UvicornWorker means asgi)";
}

WorkerClass resolve_worker_class(std::string_view name, int64_t threads) {
  const WorkerType* type = find_kind(strip_egg(name));
  if (type == nullptr) {
    if (std::find(kNotProvided.begin(), kNotProvided.end(), strip_egg(name)) != kNotProvided.end()) {
      return refused("worker class " + quoted(name) + " is not provided by narwhal");
    }
    if (name.find('.') != std::string_view::npos) {
      return refused("worker class " + quoted(name) +
                     " cannot be used: narwhal runs its workers in C++ and cannot load Python worker classes");
    }
    return refused("unknown worker class " + quoted(name));
  }
  WorkerClass result;
  result.display = std::string(name);
  // gunicorn's Config.worker_class: a sync class with threads > 1 runs the threaded worker.
  if (type->kind == WorkerKind::Sync && threads > 1) {
    type = &worker_type(WorkerKind::Gthread);
    result.display = type->name;
    if (!type->available) {
      return refused("--threads " + std::to_string(threads) + " selects the gthread worker, which is not available yet: " +
                     std::string(type->not_available_reason) + "; use --threads 1 meanwhile");
    }
  }
  if (!type->available) {
    return refused("worker class " + quoted(name) + " is not available yet: " + std::string(type->not_available_reason));
  }
  result.kind = type->kind;
  result.name = std::string(type->name);
  return result;
}

WorkerClass refuse_python_worker_class(std::string_view repr) {
  return refused("worker class " + std::string(repr) +
                 " cannot be used: narwhal runs its workers in C++ and cannot load Python worker classes");
}

}  // namespace narwhal::workers
