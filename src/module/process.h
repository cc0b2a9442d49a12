// Process attributes (gunicorn's util.py counterparts): the title shown by ps, daemonizing,
// the workers' user and group, the umask used while binding sockets. Linux only.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <string>

namespace narwhal::process {

// "narwhal: <title>" in ps/top: rewrites the process's own argv area (its bounds read from
// /proc/self/stat, arg_start/arg_end) and the thread name (prctl PR_SET_NAME, 15 bytes).
// Titles longer than the argv area are cut; the environment after it is never touched.
void set_proc_title(const std::string& title);

// gunicorn's util.daemonize: fork, setsid, fork again (the first two processes _exit(0) at
// once), umask 022, stdin/stdout/stderr to /dev/null unless `keep_stdio` (then only stdin).
// Wraps the forks in PyOS_BeforeFork/AfterFork_*; call with the GIL held and before any
// thread or listener exists. False with *error set if a fork or setsid failed.
bool daemonize(bool keep_stdio, std::string* error);

// gunicorn's util.set_owner_process, in a worker after fork: group (initgroups or setgid, then
// no supplementary groups), then user. A zero uid/gid means "leave as is", like gunicorn.
bool set_owner_process(uid_t uid, gid_t gid, bool initgroups, std::string* error);

// umask(mask) for a scope (gunicorn applies the umask setting while binding unix sockets).
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : previous_(::umask(mask)) {}
  ~ScopedUmask() { ::umask(previous_); }
  ScopedUmask(const ScopedUmask&) = delete;
  ScopedUmask& operator=(const ScopedUmask&) = delete;

 private:
  mode_t previous_;
};

}  // namespace narwhal::process
