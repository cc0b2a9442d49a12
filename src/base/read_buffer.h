// A reusable input buffer: bytes read from a socket and not yet consumed by the parser.
// One per worker (not per connection): idle keep-alive connections then cost no buffer memory.
#pragma once

#include <cstddef>
#include <cstring>
#include <vector>

namespace narwhal {

class ReadBuffer {
 public:
  explicit ReadBuffer(size_t capacity) : storage_(capacity) {}

  const char* data() const { return storage_.data() + begin_; }
  size_t size() const { return end_ - begin_; }
  bool empty() const { return begin_ == end_; }
  void consume(size_t count) {
    begin_ += count;
    if (begin_ == end_) begin_ = end_ = 0;
  }
  void clear() { begin_ = end_ = 0; }

  // Free space at the tail for a read(2); compacts first when the tail is short.
  char* write_position() {
    if (begin_ > 0 && storage_.size() - end_ < storage_.size() / 4) {
      std::memmove(storage_.data(), storage_.data() + begin_, size());
      end_ -= begin_;
      begin_ = 0;
    }
    return storage_.data() + end_;
  }
  size_t writable() const { return storage_.size() - end_; }
  void commit(size_t count) { end_ += count; }

 private:
  std::vector<char> storage_;
  size_t begin_ = 0;
  size_t end_ = 0;
};

}  // namespace narwhal
