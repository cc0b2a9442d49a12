// Response bytes a socket did not take yet, finished later from the worker's event loop: copied
// bytes, borrowed bytes kept alive by an owner (a Python bytes object of the response), and
// file ranges sent with sendfile(2). In order; flush() never blocks.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>

#include "base/unique_fd.h"
#include "net/transport.h"

namespace narwhal::net {

class OutputQueue {
 public:
  // Releases an owner given to push_borrowed (set once per process by the layer that owns
  // them: the WSGI layer drops a Python reference, taking the GIL).
  using ReleaseOwner = void (*)(void* owner);
  static void set_release_owner(ReleaseOwner release);

  OutputQueue() = default;
  ~OutputQueue() { clear(); }
  OutputQueue(const OutputQueue&) = delete;
  OutputQueue& operator=(const OutputQueue&) = delete;

  bool empty() const { return segments_.empty(); }
  uint64_t bytes() const { return bytes_; }      // total still to send
  uint64_t memory_bytes() const { return memory_; }  // of which in memory (not files)

  void push_copy(std::string_view data);
  // `owner` keeps `data` alive until it is sent (released with the ReleaseOwner function).
  void push_borrowed(const char* data, size_t size, void* owner);
  void push_file(UniqueFd file, off_t offset, uint64_t count);
  // Set TCP_CORK while files are sent; lifted when the queue empties (full-sized segments).
  void set_corked(bool corked) { corked_ = corked; }

  enum class Flush { Done, WouldBlock, Error };
  Flush flush(const Transport& transport);
  void clear();  // drops everything (connection closed)

 private:
  struct Segment {
    std::string copy;
    const char* data = nullptr;  // into copy, or borrowed
    size_t size = 0;
    void* owner = nullptr;
    UniqueFd file;
    off_t offset = 0;
    uint64_t file_left = 0;
  };
  void pop_front();

  std::deque<Segment> segments_;
  uint64_t bytes_ = 0;
  uint64_t memory_ = 0;
  bool corked_ = false;
};

}  // namespace narwhal::net
