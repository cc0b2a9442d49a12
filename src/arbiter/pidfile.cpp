#include "arbiter/pidfile.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>

namespace narwhal::arbiter {

bool Pidfile::create(pid_t pid, std::string* error) {
  const pid_t old_pid = validate();
  if (old_pid != 0 && old_pid != ::getpid()) {
    *error = "Already running on PID " + std::to_string(old_pid) + " (or pid file '" + path_ + "' is stale)";
    return false;
  }
  pid_ = pid;
  const size_t slash = path_.rfind('/');
  const std::string directory = slash == std::string::npos ? "." : path_.substr(0, std::max<size_t>(slash, 1));
  std::string temp = directory + "/.narwhal-pid-XXXXXX";
  const int fd = ::mkstemp(temp.data());
  if (fd < 0) {
    *error = directory + " doesn't exist. Can't create pidfile.";
    if (errno != ENOENT) *error = "Can't create pidfile " + path_ + ": " + std::strerror(errno);
    return false;
  }
  const std::string text = std::to_string(pid) + "\n";
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::fchmod(fd, 0644);
  ::close(fd);
  if (!written || ::rename(temp.c_str(), path_.c_str()) != 0) {
    *error = "Can't write pidfile " + path_ + ": " + std::strerror(errno);
    ::unlink(temp.c_str());
    return false;
  }
  return true;
}

bool Pidfile::rename(const std::string& path, std::string* error) {
  unlink();
  path_ = path;
  return create(pid_, error);
}

void Pidfile::unlink() const {
  std::ifstream file(path_);
  long pid = 0;
  if (file >> pid && pid == static_cast<long>(pid_) && pid_ != 0) ::unlink(path_.c_str());
}

pid_t Pidfile::validate() const {
  std::ifstream file(path_);
  long pid = 0;
  if (!(file >> pid) || pid <= 0) return 0;
  if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM) return static_cast<pid_t>(pid);
  return 0;  // ESRCH: stale
}

}  // namespace narwhal::arbiter
