#include "workers/file_watcher.h"

#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace narwhal::workers {

bool FileWatcher::start(const std::vector<std::string>& files, std::string* error) {
  inotify_.reset(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!inotify_) {
    *error = std::string("inotify_init1: ") + std::strerror(errno);
    return false;
  }
  // Directories, not files: editors save by writing a new file and renaming it over the old
  // one, which a watch on the old inode would miss.
  constexpr uint32_t kEvents = IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_MODIFY;
  std::unordered_map<std::string, int> watched;
  for (const std::string& file : files) {
    size_t slash = file.rfind('/');
    if (slash == std::string::npos) continue;
    std::string directory = slash == 0 ? "/" : file.substr(0, slash);
    files_.insert(file);
    if (watched.count(directory)) continue;
    int descriptor = inotify_add_watch(inotify_.get(), directory.c_str(), kEvents);
    if (descriptor < 0) continue;  // a vanished directory: nothing to reload from there
    watched.emplace(directory, descriptor);
    directories_.emplace(descriptor, directory);
  }
  return true;
}

bool FileWatcher::read_changes(std::string* changed) {
  alignas(struct inotify_event) char buffer[16384];
  bool found = false;
  for (;;) {
    ssize_t n = read(inotify_.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return found;
    for (char* position = buffer; position < buffer + n;) {
      const auto* event = reinterpret_cast<const struct inotify_event*>(position);
      position += sizeof(struct inotify_event) + event->len;
      auto directory = directories_.find(event->wd);
      if (directory == directories_.end() || event->len == 0) continue;
      std::string path = directory->second + (directory->second == "/" ? "" : "/") + event->name;
      if (!found && files_.count(path)) {
        *changed = path;
        found = true;
      }
    }
  }
}

}  // namespace narwhal::workers
