#include "net/output_queue.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>

#include "base/io.h"

namespace narwhal::net {
namespace {

OutputQueue::ReleaseOwner g_release_owner = nullptr;

void set_cork(int fd, bool on) {
  int value = on ? 1 : 0;
  (void)setsockopt(fd, IPPROTO_TCP, TCP_CORK, &value, sizeof value);  // EOPNOTSUPP on unix sockets
}

}  // namespace

void OutputQueue::set_release_owner(ReleaseOwner release) { g_release_owner = release; }

void OutputQueue::push_copy(std::string_view data) {
  if (data.empty()) return;
  // Small writes behind a copied segment nothing of which was sent yet join it (a
  // generator's many small chunks).
  if (!segments_.empty()) {
    Segment& last = segments_.back();
    if (!last.owner && !last.file && !last.copy.empty() && last.data == last.copy.data() &&
        last.size == last.copy.size()) {
      last.copy.append(data);
      last.data = last.copy.data();
      last.size = last.copy.size();
      bytes_ += data.size();
      memory_ += data.size();
      return;
    }
  }
  // data points into the string where it lives in the deque: a short string is stored inside
  // the Segment (SSO), so a pointer taken before the move would dangle.
  Segment& segment = segments_.emplace_back();
  segment.copy.assign(data);
  segment.data = segment.copy.data();
  segment.size = segment.copy.size();
  bytes_ += data.size();
  memory_ += data.size();
}

void OutputQueue::push_borrowed(const char* data, size_t size, void* owner) {
  Segment segment;
  segment.data = data;
  segment.size = size;
  segment.owner = owner;
  bytes_ += size;
  memory_ += size;
  segments_.push_back(std::move(segment));
}

void OutputQueue::push_file(UniqueFd file, off_t offset, uint64_t count) {
  Segment segment;
  segment.file = std::move(file);
  segment.offset = offset;
  segment.file_left = count;
  bytes_ += count;
  segments_.push_back(std::move(segment));
}

void OutputQueue::pop_front() {
  Segment& front = segments_.front();
  if (front.owner && g_release_owner) g_release_owner(front.owner);
  segments_.pop_front();
}

OutputQueue::Flush OutputQueue::flush(const Transport& transport) {
  while (!segments_.empty()) {
    Segment& front = segments_.front();
    if (front.file) {
      while (front.file_left > 0) {
        ssize_t n = transport.send_file(front.file.get(), &front.offset,
                                      static_cast<size_t>(std::min<uint64_t>(front.file_left, 1u << 30)));
        if (n == io::kWouldBlock) return Flush::WouldBlock;
        if (n <= 0) return Flush::Error;  // an error, or the file shrank: the framing is broken
        front.file_left -= static_cast<uint64_t>(n);
        bytes_ -= static_cast<uint64_t>(n);
      }
      pop_front();
      continue;
    }
    // Memory segments: gather up to 16 of them into one writev.
    struct iovec iov[16];
    int count = 0;
    for (const Segment& segment : segments_) {
      if (segment.file || count == 16) break;
      iov[count++] = {const_cast<char*>(segment.data), segment.size};
    }
    ssize_t n = transport.writev(iov, count);
    if (n == io::kWouldBlock) return Flush::WouldBlock;
    if (n < 0) return Flush::Error;
    size_t moved = static_cast<size_t>(n);
    bytes_ -= moved;
    memory_ -= moved;
    while (moved > 0) {
      Segment& segment = segments_.front();
      size_t step = std::min(moved, segment.size);
      segment.data += step;
      segment.size -= step;
      moved -= step;
      if (segment.size == 0) pop_front();
    }
    while (!segments_.empty() && !segments_.front().file && segments_.front().size == 0) pop_front();
  }
  if (corked_) {
    set_cork(transport.fd, false);
    corked_ = false;
  }
  return Flush::Done;
}

void OutputQueue::clear() {
  while (!segments_.empty()) pop_front();
  bytes_ = 0;
  memory_ = 0;
}

}  // namespace narwhal::net
