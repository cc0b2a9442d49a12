// The worker registry: names and aliases, threads selecting gthread, refusals.
#include "workers/registry.h"

#include <gtest/gtest.h>

#include <string>

namespace narwhal::workers {
namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(WorkerRegistry, SyncNamesResolve) {
  for (const char* name : {"sync", "gunicorn.workers.sync.SyncWorker", "egg:gunicorn#sync", "#sync"}) {
    WorkerClass resolved = resolve_worker_class(name, 1);
    ASSERT_TRUE(resolved.ok()) << name << ": " << resolved.error;
    EXPECT_EQ(resolved.kind, WorkerKind::Sync) << name;
    EXPECT_EQ(resolved.name, "sync") << name;
    EXPECT_EQ(resolved.display, name);  // gunicorn's worker_class_str: as configured
  }
}

TEST(WorkerRegistry, EveryKindHasOneRowAndAllAreAvailable) {
  ASSERT_EQ(worker_types().size(), 4u);
  for (WorkerKind kind : {WorkerKind::Sync, WorkerKind::Gthread, WorkerKind::Gevent, WorkerKind::Asgi}) {
    EXPECT_EQ(worker_type(kind).kind, kind);
  }
  EXPECT_TRUE(worker_type(WorkerKind::Sync).available);
  EXPECT_TRUE(worker_type(WorkerKind::Gthread).available);
  EXPECT_TRUE(worker_type(WorkerKind::Gevent).available);
  EXPECT_TRUE(worker_type(WorkerKind::Asgi).available);
}

// The ASGI worker's names: narwhal's, gunicorn's and uvicorn's worker classes.
TEST(WorkerRegistry, AsgiNamesResolve) {
  for (const char* name : {"asgi", "gunicorn.workers.gasgi.ASGIWorker", "egg:gunicorn#asgi", "uvicorn.workers.UvicornWorker",
                           "uvicorn.workers.UvicornH11Worker", "uvicorn_worker.UvicornWorker"}) {
    WorkerClass resolved = resolve_worker_class(name, 1);
    ASSERT_TRUE(resolved.ok()) << name << ": " << resolved.error;
    EXPECT_EQ(resolved.kind, WorkerKind::Asgi) << name;
    EXPECT_EQ(resolved.name, "asgi") << name;
  }
}

// gunicorn's gevent worker and its pywsgi variant (gevent_wsgi, gevent_pywsgi) are one worker.
TEST(WorkerRegistry, GeventNamesResolve) {
  for (const char* name : {"gevent", "gunicorn.workers.ggevent.GeventWorker", "egg:gunicorn#gevent", "gevent_wsgi",
                           "gevent_pywsgi", "gunicorn.workers.ggevent.GeventPyWSGIWorker"}) {
    WorkerClass resolved = resolve_worker_class(name, 1);
    ASSERT_TRUE(resolved.ok()) << name << ": " << resolved.error;
    EXPECT_EQ(resolved.kind, WorkerKind::Gevent) << name;
    EXPECT_EQ(resolved.name, "gevent") << name;
  }
  EXPECT_EQ(resolve_worker_class("gevent", 4).kind, WorkerKind::Gevent);  // threads: not gthread
}

TEST(WorkerRegistry, GthreadNamesResolve) {
  for (const char* name : {"gthread", "gunicorn.workers.gthread.ThreadWorker", "egg:gunicorn#gthread"}) {
    WorkerClass resolved = resolve_worker_class(name, 1);
    ASSERT_TRUE(resolved.ok()) << name << ": " << resolved.error;
    EXPECT_EQ(resolved.kind, WorkerKind::Gthread) << name;
  }
}

TEST(WorkerRegistry, ThreadsSelectGthreadForSyncClasses) {
  for (const char* name : {"sync", "gunicorn.workers.sync.SyncWorker", "egg:gunicorn#sync"}) {
    WorkerClass resolved = resolve_worker_class(name, 4);
    ASSERT_TRUE(resolved.ok()) << name << ": " << resolved.error;
    EXPECT_EQ(resolved.kind, WorkerKind::Gthread) << name;
  }
  EXPECT_EQ(resolve_worker_class("sync", 1).kind, WorkerKind::Sync);
  EXPECT_EQ(resolve_worker_class("sync", 0).kind, WorkerKind::Sync);
}

TEST(WorkerRegistry, UnknownAndUserClassesAreRefused) {
  WorkerClass unknown = resolve_worker_class("nonsense", 1);
  ASSERT_FALSE(unknown.ok());
  EXPECT_TRUE(contains(unknown.error, "unknown worker class 'nonsense'")) << unknown.error;
  EXPECT_TRUE(contains(unknown.error, "known worker classes: sync, gthread, gevent, asgi ("))
      << unknown.error;

  for (const char* name : {"mypkg.MyWorker", "gunicorn.workers.sync.Nope", "egg:mypkg#worker.Class"}) {
    WorkerClass user = resolve_worker_class(name, 1);
    ASSERT_FALSE(user.ok()) << name;
    EXPECT_TRUE(contains(user.error, "cannot load Python worker classes")) << user.error;
    EXPECT_TRUE(contains(user.error, "known worker classes")) << user.error;
  }
  WorkerClass object = refuse_python_worker_class("<class 'mypkg.MyWorker'>");
  ASSERT_FALSE(object.ok());
  EXPECT_TRUE(contains(object.error, "<class 'mypkg.MyWorker'>")) << object.error;
  EXPECT_TRUE(contains(object.error, "cannot load Python worker classes")) << object.error;
}

TEST(WorkerRegistry, GunicornClassesNarwhalDoesNotProvide) {
  for (const char* name : {"eventlet", "tornado", "gunicorn.workers.geventlet.EventletWorker", "egg:gunicorn#eventlet"}) {
    WorkerClass resolved = resolve_worker_class(name, 1);
    ASSERT_FALSE(resolved.ok()) << name;
    EXPECT_TRUE(contains(resolved.error, "is not provided by narwhal")) << resolved.error;
  }
}

TEST(WorkerRegistry, NamesAreCaseSensitiveLikeGunicorn) {
  EXPECT_FALSE(resolve_worker_class("SYNC", 1).ok());
  EXPECT_FALSE(resolve_worker_class("", 1).ok());
}

}  // namespace
}  // namespace narwhal::workers
