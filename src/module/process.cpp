#include "module/process.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "python/pyref.h"

namespace narwhal::process {
namespace {

// arg_start and arg_end (fields 48 and 49 of /proc/self/stat, Linux >= 3.5). The second field
// (comm) may hold spaces and parentheses: count fields from the last ')'.
bool argv_area(char** start, char** end) {
  std::ifstream file("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream fields(stat.substr(close + 1));
  std::string field;
  unsigned long long arg_start = 0, arg_end = 0;
  for (int number = 3; fields >> field; ++number) {  // field 3 (state) follows comm
    if (number == 48) arg_start = std::strtoull(field.c_str(), nullptr, 10);
    if (number == 49) {
      arg_end = std::strtoull(field.c_str(), nullptr, 10);
      break;
    }
  }
  if (arg_start == 0 || arg_end <= arg_start) return false;
  *start = reinterpret_cast<char*>(arg_start);
  *end = reinterpret_cast<char*>(arg_end);
  return true;
}

std::string strerror_text(int error_number) { return std::strerror(error_number); }

}  // namespace

void set_proc_title(const std::string& title) {
  const std::string text = "narwhal: " + title;
  char* start = nullptr;
  char* end = nullptr;
  if (argv_area(&start, &end)) {
    // The area is this process's own memory (the initial stack): argv strings, NUL-separated.
    // Keeping its last byte NUL tells the kernel the title ends here (no environ spill-over).
    const size_t size = static_cast<size_t>(end - start);
    const size_t length = std::min(text.size(), size - 1);
    std::memcpy(start, text.data(), length);
    std::memset(start + length, 0, size - length);
  }
  ::prctl(PR_SET_NAME, text.substr(0, 15).c_str(), 0, 0, 0);
}

bool daemonize(bool keep_stdio, std::string* error) {
  for (int round = 0; round < 2; ++round) {
    PyOS_BeforeFork();
    pid_t pid = ::fork();
    if (pid > 0) ::_exit(0);  // the parent's only job was to detach us
    if (pid < 0) {
      int fork_errno = errno;
      PyOS_AfterFork_Parent();
      *error = "can't fork to daemonize: " + strerror_text(fork_errno);
      return false;
    }
    PyOS_AfterFork_Child();
    if (round == 0 && ::setsid() < 0) {
      *error = "setsid failed: " + strerror_text(errno);
      return false;
    }
  }
  ::umask(022);
  int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd < 0) {
    *error = "can't open /dev/null: " + strerror_text(errno);
    return false;
  }
  // dup2 clears O_CLOEXEC on the copies: stdio stays open across exec, like gunicorn's.
  ::dup2(null_fd, 0);
  if (!keep_stdio) {
    ::dup2(null_fd, 1);
    ::dup2(null_fd, 2);
  }
  if (null_fd > 2) ::close(null_fd);
  return true;
}

bool set_owner_process(uid_t uid, gid_t gid, bool initgroups, std::string* error) {
  std::string username;
  if (uid != 0) {
    std::vector<char> buffer(16384);
    struct passwd entry {};
    struct passwd* found = nullptr;
    if (::getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) == 0 && found) username = found->pw_name;
  }
  if (gid != 0) {
    if (initgroups && !username.empty()) {
      if (::initgroups(username.c_str(), gid) < 0) {
        *error = "initgroups(" + username + ", " + std::to_string(gid) + ") failed: " + strerror_text(errno);
        return false;
      }
    }
    if (::getgid() != gid && ::setgid(gid) < 0) {
      *error = "setgid(" + std::to_string(gid) + ") failed: " + strerror_text(errno);
      return false;
    }
    // Drop supplementary groups (unless initgroups set them); EPERM when not root is fine.
    if (!(initgroups && !username.empty()) && ::setgroups(0, nullptr) < 0 && errno != EPERM) {
      *error = "setgroups failed: " + strerror_text(errno);
      return false;
    }
  }
  if (uid != 0) {
    if (!username.empty()) {
      gid_t group = gid != 0 ? gid : ::getgid();
      if (::initgroups(username.c_str(), group) < 0 && errno != EPERM) {
        *error = "initgroups(" + username + ") failed: " + strerror_text(errno);
        return false;
      }
    }
    if (::setuid(uid) < 0) {
      *error = "setuid(" + std::to_string(uid) + ") failed: " + strerror_text(errno);
      return false;
    }
  }
  return true;
}

}  // namespace narwhal::process
