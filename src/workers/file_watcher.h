// --reload with inotify: watches the directories of the app's source files and reports when
// one of those files is written, replaced or removed. The worker polls its fd in the same epoll
// loop as its sockets, so watching costs nothing while nothing changes.
#pragma once

#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "base/unique_fd.h"

namespace narwhal::workers {

class FileWatcher {
 public:
  // Watches `files` (absolute paths). False with *error set when inotify is unavailable.
  bool start(const std::vector<std::string>& files, std::string* error);
  int fd() const { return inotify_.get(); }
  // Reads the pending events; true with *changed set when a watched file changed.
  bool read_changes(std::string* changed);

 private:
  UniqueFd inotify_;
  std::unordered_map<int, std::string> directories_;  // watch descriptor → directory
  std::unordered_set<std::string> files_;
};

}  // namespace narwhal::workers
