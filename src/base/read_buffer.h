// A reusable input buffer: bytes read from a socket and not yet consumed by the parser.
// One per worker (not per connection): idle keep-alive connections then cost no buffer memory.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>

namespace narwhal {

class ReadBuffer {
 public:
  // Not zero-filled: pages are touched only as bytes arrive (a gevent worker keeps one buffer
  // per concurrent request).
  explicit ReadBuffer(size_t capacity)
      : storage_(std::make_unique_for_overwrite<char[]>(capacity)), capacity_(capacity) {}

  const char* data() const { return storage_.get() + begin_; }
  size_t size() const { return end_ - begin_; }
  bool empty() const { return begin_ == end_; }
  void consume(size_t count) {
    begin_ += count;
    if (begin_ == end_) begin_ = end_ = 0;
  }
  void clear() { begin_ = end_ = 0; }

  // Free space at the tail for a read(2); compacts first when the tail is short.
  char* write_position() {
    if (begin_ > 0 && capacity_ - end_ < capacity_ / 4) {
      std::memmove(storage_.get(), storage_.get() + begin_, size());
      end_ -= begin_;
      begin_ = 0;
    }
    return storage_.get() + end_;
  }
  size_t writable() const { return capacity_ - end_; }
  void commit(size_t count) { end_ += count; }

 private:
  std::unique_ptr<char[]> storage_;
  size_t capacity_;
  size_t begin_ = 0;
  size_t end_ = 0;
};

}  // namespace narwhal
