#include "base/unique_fd.h"

#include <unistd.h>

namespace narwhal {

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) {
    // close(2) must not be retried on EINTR on Linux: the descriptor is released either way.
    ::close(fd_);
  }
  fd_ = fd;
}

}  // namespace narwhal
