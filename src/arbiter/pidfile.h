// The master's pid file, as gunicorn's pidfile.py: written atomically (temp file + rename),
// refused when it names another live process, and removed only while it still holds our pid.
// During a binary upgrade (USR2) the new master writes "<pidfile>.2" and renames it to
// "<pidfile>" once the old master has exited (Arbiter::maybe_promote_master).
#pragma once

#include <sys/types.h>

#include <string>

namespace narwhal::arbiter {

class Pidfile {
 public:
  explicit Pidfile(std::string path) : path_(std::move(path)) {}

  // Writes "<pid>\n" (mode 0644). Fails when the file names another live process ("Already
  // running on PID N (or pid file 'P' is stale)") or when it cannot be written.
  bool create(pid_t pid, std::string* error);
  // Moves to `path` (gunicorn's Pidfile.rename: unlink, then create there).
  bool rename(const std::string& path, std::string* error);
  // Removes the file if it still holds our pid (another master may have taken it over).
  void unlink() const;

  const std::string& path() const { return path_; }

 private:
  // The pid in the file if that process is alive (or not ours to signal), else 0.
  pid_t validate() const;

  std::string path_;
  pid_t pid_ = 0;
};

}  // namespace narwhal::arbiter
