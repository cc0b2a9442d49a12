#include "arbiter/signals.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include <cctype>
#include <cstring>

namespace narwhal::arbiter {
namespace {

// The one piece of process-global state a signal handler needs: where to queue.
volatile sig_atomic_t g_queue_fd = -1;

constexpr size_t kMaxPending = 5;  // gunicorn: `if len(self.SIG_QUEUE) < 5`

extern "C" void queue_signal(int signal_number) {
  const int saved_errno = errno;
  const int fd = g_queue_fd;
  if (fd >= 0) {
    const unsigned char byte = static_cast<unsigned char>(signal_number);
    (void)!::write(fd, &byte, 1);  // a full pipe drops the signal, like gunicorn's full queue
  }
  errno = saved_errno;
}

}  // namespace

SignalQueue::~SignalQueue() { restore(); }

bool SignalQueue::open(std::string* error) {
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
    *error = std::string("pipe2: ") + std::strerror(errno);
    return false;
  }
  read_end_.reset(fds[0]);
  write_end_.reset(fds[1]);
  g_queue_fd = write_end_.get();

  struct sigaction action{};
  action.sa_handler = queue_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  auto install = [&](int signal_number) {
    struct sigaction old{};
    if (::sigaction(signal_number, &action, &old) == 0) previous_.emplace_back(signal_number, old);
  };
  for (int signal_number : kMasterSignals) install(signal_number);
  install(SIGCHLD);
  return true;
}

void SignalQueue::restore() {
  for (auto& [signal_number, old] : previous_) ::sigaction(signal_number, &old, nullptr);
  previous_.clear();
  if (g_queue_fd == write_end_.get()) g_queue_fd = -1;
}

void SignalQueue::sleep(int timeout_ms) {
  if (!read_end_) return;
  pollfd pfd{read_end_.get(), POLLIN, 0};
  const int rc = ::poll(&pfd, 1, timeout_ms);
  if (rc == 0) return;  // timeout
  // Readable, or EINTR: the handlers that interrupted the poll have written into the pipe, and
  // what they queued must be seen now — a SIGINT to the whole process group comes with the
  // SIGCHLDs of the workers it stopped, and must be handled before they are replaced.
  drain();
}

void SignalQueue::push(int signal_number) {
  if (pending_.size() < kMaxPending) pending_.push_back(signal_number);
}

void SignalQueue::drain() {
  if (!read_end_) return;
  unsigned char buffer[64];
  for (;;) {
    const ssize_t n = ::read(read_end_.get(), buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (ssize_t i = 0; i < n; ++i) {
      const int signal_number = buffer[i];
      if (signal_number == SIGCHLD) continue;
      if (pending_.size() < kMaxPending) pending_.push_back(signal_number);
    }
  }
}

int SignalQueue::pop() {
  const int signal_number = pending_.front();
  pending_.pop_front();
  return signal_number;
}

void SignalQueue::reset_in_child() {
  g_queue_fd = -1;
  struct sigaction action{};
  action.sa_handler = SIG_DFL;
  sigemptyset(&action.sa_mask);
  for (auto& entry : previous_) ::sigaction(entry.first, &action, nullptr);
  previous_.clear();
  read_end_.reset();
  write_end_.reset();
  pending_.clear();
  sigset_t empty;
  sigemptyset(&empty);
  ::sigprocmask(SIG_SETMASK, &empty, nullptr);
}

BlockAllSignals::BlockAllSignals() {
  sigset_t all;
  sigfillset(&all);
  ::sigprocmask(SIG_BLOCK, &all, &previous_);
}

BlockAllSignals::~BlockAllSignals() { ::sigprocmask(SIG_SETMASK, &previous_, nullptr); }

std::string signal_name(int signal_number) {
  const char* abbreviation = ::sigabbrev_np(signal_number);
  if (abbreviation == nullptr) return "signal " + std::to_string(signal_number);
  return std::string("SIG") + abbreviation;
}

std::string signal_short_name(int signal_number) {
  const char* abbreviation = ::sigabbrev_np(signal_number);
  if (abbreviation == nullptr) return std::to_string(signal_number);
  std::string name = abbreviation;
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

}  // namespace narwhal::arbiter
