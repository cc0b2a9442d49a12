// Shared helpers for the log unit tests: a temporary directory, file reading, and a scoped TZ.
#pragma once

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace narwhal::log::testing {

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "narwhal-log-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Sets TZ for the scope (POSIX strings such as "UTC0" or "XXX-05:30" need no tzdata).
class ScopedTimezone {
 public:
  explicit ScopedTimezone(const char* tz) {
    const char* old = ::getenv("TZ");
    had_old_ = old != nullptr;
    if (had_old_) old_ = old;
    ::setenv("TZ", tz, 1);
    ::tzset();
  }
  ~ScopedTimezone() {
    if (had_old_) {
      ::setenv("TZ", old_.c_str(), 1);
    } else {
      ::unsetenv("TZ");
    }
    ::tzset();
  }

 private:
  bool had_old_ = false;
  std::string old_;
};

}  // namespace narwhal::log::testing
