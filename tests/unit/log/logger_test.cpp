#include "log/logger.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "test_support.h"

namespace narwhal::log {
namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (std::size_t end = text.find('\n'); end != std::string::npos; end = text.find('\n', start)) {
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  EXPECT_EQ(start, text.size()) << "text does not end with a newline";
  return lines;
}

// gunicorn: "%(asctime)s [%(process)d] [%(levelname)s] %(message)s", datefmt "[%Y-%m-%d %H:%M:%S
// %z]"
const std::regex kErrorLine(
    R"(^\[(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) [+-]\d{4}\] \[(\d+)\] \[(DEBUG|INFO|WARNING|ERROR|CRITICAL)\] (.*)$)");

TEST(ParseLevel, KnownNamesAnyCase) {
  Level level = Level::Critical;
  ASSERT_TRUE(parse_level("debug", &level));
  EXPECT_EQ(level, Level::Debug);
  ASSERT_TRUE(parse_level("INFO", &level));
  EXPECT_EQ(level, Level::Info);
  ASSERT_TRUE(parse_level("Warning", &level));
  EXPECT_EQ(level, Level::Warning);
  ASSERT_TRUE(parse_level("eRRoR", &level));
  EXPECT_EQ(level, Level::Error);
  ASSERT_TRUE(parse_level("critical", &level));
  EXPECT_EQ(level, Level::Critical);
}

TEST(ParseLevel, UnknownNamesAreRejected) {
  Level level = Level::Info;
  for (const char* text : {"", "warn", "fatal", "debug ", "information", "10"}) {
    EXPECT_FALSE(parse_level(text, &level)) << text;
  }
  EXPECT_EQ(level, Level::Info);
}

TEST(LevelName, PythonNames) {
  EXPECT_EQ(level_name(Level::Debug), "DEBUG");
  EXPECT_EQ(level_name(Level::Warning), "WARNING");
  EXPECT_EQ(level_name(Level::Critical), "CRITICAL");
}

class LoggerTest : public ::testing::Test {
 protected:
  void open(Level level, std::string_view accesslog = "", std::string_view format = "") {
    std::string error;
    ASSERT_TRUE(logger_.open(error_path_, accesslog, level, format, &error)) << error;
  }
  testing::TempDir dir_;
  std::string error_path_ = dir_.file("error.log");
  Logger logger_;
};

TEST_F(LoggerTest, LevelFilter) {
  open(Level::Warning);
  EXPECT_FALSE(logger_.enabled(Level::Info));
  EXPECT_TRUE(logger_.enabled(Level::Warning));
  logger_.debug("d1");
  logger_.info("i1");
  logger_.warning("w1");
  logger_.error("e1");
  logger_.critical("c1");
  logger_.set_level(Level::Debug);
  logger_.debug("d2");
  logger_.set_level(Level::Critical);
  logger_.error("e2");
  std::vector<std::string> messages;
  for (const std::string& line : lines_of(testing::read_file(error_path_))) {
    std::smatch match;
    ASSERT_TRUE(std::regex_match(line, match, kErrorLine)) << line;
    messages.push_back(match[8].str() + ":" + match[9].str());
  }
  EXPECT_EQ(messages,
            (std::vector<std::string>{"WARNING:w1", "ERROR:e1", "CRITICAL:c1", "DEBUG:d2"}));
}

TEST_F(LoggerTest, ErrorLineLayout) {
  open(Level::Info);
  logger_.info("Booting worker with pid: 42");
  std::vector<std::string> lines = lines_of(testing::read_file(error_path_));
  ASSERT_EQ(lines.size(), 1u);
  std::smatch match;
  ASSERT_TRUE(std::regex_match(lines[0], match, kErrorLine)) << lines[0];
  EXPECT_EQ(std::stoi(match[7].str()), ::getpid());
  EXPECT_EQ(match[8].str(), "INFO");
  EXPECT_EQ(match[9].str(), "Booting worker with pid: 42");
}

TEST_F(LoggerTest, PidIsTheWritingProcess) {
  open(Level::Info);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    logger_.info("from child");
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  logger_.info("from parent");
  std::vector<std::string> lines = lines_of(testing::read_file(error_path_));
  ASSERT_EQ(lines.size(), 2u);
  std::smatch match;
  ASSERT_TRUE(std::regex_match(lines[0], match, kErrorLine));
  EXPECT_EQ(std::stoi(match[7].str()), child);
  ASSERT_TRUE(std::regex_match(lines[1], match, kErrorLine));
  EXPECT_EQ(std::stoi(match[7].str()), ::getpid());
}

TEST_F(LoggerTest, ConcurrentProcessesNeverInterleave) {
  open(Level::Info, dir_.file("access.log"), "%(h)s %({x}i)s");
  constexpr int kChildren = 4;
  constexpr int kLines = 500;
  std::string padding(300, 'x');
  std::vector<pid_t> children;
  for (int c = 0; c < kChildren; ++c) {
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      std::string tag = std::to_string(c) + padding;
      HeaderList headers = {{"X", tag}};
      AccessRecord record;
      record.remote_addr = "child";
      record.request_headers = &headers;
      for (int i = 0; i < kLines; ++i) {
        logger_.info(tag);
        logger_.access(record);
      }
      ::_exit(0);
    }
    children.push_back(child);
  }
  for (pid_t child : children) ::waitpid(child, nullptr, 0);
  std::vector<std::string> errors = lines_of(testing::read_file(error_path_));
  ASSERT_EQ(errors.size(), static_cast<std::size_t>(kChildren * kLines));
  for (const std::string& line : errors) {
    std::smatch match;
    ASSERT_TRUE(std::regex_match(line, match, kErrorLine)) << line;
    ASSERT_EQ(match[9].str().substr(1), padding);
  }
  std::vector<std::string> accesses = lines_of(testing::read_file(dir_.file("access.log")));
  ASSERT_EQ(accesses.size(), static_cast<std::size_t>(kChildren * kLines));
  for (const std::string& line : accesses) ASSERT_EQ(line.substr(7), padding);
}

TEST_F(LoggerTest, AccessLineGoesToTheAccessFile) {
  std::string access_path = dir_.file("access.log");
  open(Level::Info, access_path, "%(s)s %(r)s");
  ASSERT_TRUE(logger_.access_enabled());
  AccessRecord record;
  record.method = "GET";
  record.target = "/";
  record.protocol = "HTTP/1.0";
  record.status = "404";
  logger_.access(record);
  EXPECT_EQ(testing::read_file(access_path), "404 GET / HTTP/1.0\n");
  EXPECT_EQ(testing::read_file(error_path_), "");
}

TEST_F(LoggerTest, AccessLogDestinations) {
  open(Level::Info, "");
  EXPECT_FALSE(logger_.access_enabled());
  logger_.access(AccessRecord{});  // off: no-op
  open(Level::Info, "-");
  EXPECT_TRUE(logger_.access_enabled());
  EXPECT_EQ(logger_.access_fd(), 1);
  std::string error;
  ASSERT_TRUE(logger_.open("-", "", Level::Info, "", &error));
  EXPECT_EQ(logger_.error_fd(), 2);
}

TEST_F(LoggerTest, InvalidAccessFormatWarnsAtOpen) {
  open(Level::Info, dir_.file("access.log"), "%(h)d");
  std::vector<std::string> lines = lines_of(testing::read_file(error_path_));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("[WARNING] access_log_format"), std::string::npos) << lines[0];
}

TEST_F(LoggerTest, OpenFailureLeavesLoggerUnchanged) {
  open(Level::Info);
  std::string error;
  EXPECT_FALSE(logger_.open(dir_.file("missing/dir/error.log"), "", Level::Debug, "", &error));
  EXPECT_NE(error.find("isn't writable"), std::string::npos) << error;
  EXPECT_FALSE(logger_.open("-", dir_.file("missing/access.log"), Level::Debug, "", &error));
  EXPECT_FALSE(logger_.enabled(Level::Debug));
  logger_.info("still here");
  EXPECT_NE(testing::read_file(error_path_).find("still here"), std::string::npos);
}

TEST_F(LoggerTest, ReopenAfterRename) {
  std::string access_path = dir_.file("access.log");
  open(Level::Info, access_path, "%(s)s");
  int error_fd = logger_.error_fd();
  AccessRecord record;
  record.status = "200";
  logger_.info("before");
  logger_.access(record);
  // What logrotate does before sending USR1.
  ASSERT_EQ(std::rename(error_path_.c_str(), (error_path_ + ".1").c_str()), 0);
  ASSERT_EQ(std::rename(access_path.c_str(), (access_path + ".1").c_str()), 0);
  logger_.info("between");  // still the old (renamed) file
  ASSERT_TRUE(logger_.reopen());
  EXPECT_EQ(logger_.error_fd(), error_fd);  // same descriptor number, new file
  record.status = "201";
  logger_.info("after");
  logger_.access(record);
  std::string old_error = testing::read_file(error_path_ + ".1");
  std::string new_error = testing::read_file(error_path_);
  EXPECT_NE(old_error.find("before"), std::string::npos);
  EXPECT_NE(old_error.find("between"), std::string::npos);
  EXPECT_EQ(old_error.find("after"), std::string::npos);
  EXPECT_NE(new_error.find("after"), std::string::npos);
  EXPECT_EQ(lines_of(new_error).size(), 1u);
  EXPECT_EQ(testing::read_file(access_path + ".1"), "200\n");
  EXPECT_EQ(testing::read_file(access_path), "201\n");
}

TEST_F(LoggerTest, ReopenKeepsCloseOnExec) {
  open(Level::Info, dir_.file("access.log"));
  ASSERT_TRUE(logger_.reopen());
  EXPECT_TRUE(::fcntl(logger_.error_fd(), F_GETFD) & FD_CLOEXEC);
  EXPECT_TRUE(::fcntl(logger_.access_fd(), F_GETFD) & FD_CLOEXEC);
}

TEST_F(LoggerTest, ReopenFailureKeepsOldFile) {
  open(Level::Info);
  ASSERT_EQ(std::rename(error_path_.c_str(), (error_path_ + ".1").c_str()), 0);
  ASSERT_EQ(::mkdir(error_path_.c_str(), 0700),
            0);  // open(O_WRONLY) fails with EISDIR, even as root
  EXPECT_FALSE(logger_.reopen());
  logger_.info("kept");
  std::string old_error = testing::read_file(error_path_ + ".1");
  EXPECT_NE(old_error.find("[ERROR] Error: '" + error_path_ + "' isn't writable"),
            std::string::npos)
      << old_error;
  EXPECT_NE(old_error.find("kept"), std::string::npos);
}

// A sink standing in for Python logging (src/module/python_log.cpp): takes lines unless told
// to refuse them, counts reopens.
class RecordingSink final : public LineSink {
 public:
  bool line(Level level, std::string_view message, bool exception) override {
    if (refuse) return false;
    lines.push_back(std::string(level_name(level)) + (exception ? "!" : ":") + std::string(message));
    return true;
  }
  void reopen() override { ++reopens; }
  void drain() override { ++drains; }
  bool refuse = false;
  int reopens = 0;
  int drains = 0;
  std::vector<std::string> lines;
};

TEST_F(LoggerTest, SinkTakesErrorLinesInsteadOfTheFile) {
  open(Level::Info);
  RecordingSink sink;
  logger_.set_sink(&sink);
  logger_.debug("filtered");  // the level filter still applies before the sink
  logger_.info("to the sink");
  logger_.exception("Error handling request /x\nTraceback");
  sink.refuse = true;  // e.g. re-entry from inside Python: the file takes it
  logger_.warning("refused");
  sink.refuse = false;
  EXPECT_TRUE(logger_.reopen());
  logger_.drain_sink();
  logger_.set_sink(nullptr);
  logger_.error("back to the file");
  EXPECT_EQ(sink.lines, (std::vector<std::string>{"INFO:to the sink", "ERROR!Error handling request /x\nTraceback"}));
  EXPECT_EQ(sink.reopens, 1);
  EXPECT_EQ(sink.drains, 1);
  std::vector<std::string> messages;
  for (const std::string& line : lines_of(testing::read_file(error_path_))) {
    std::smatch match;
    ASSERT_TRUE(std::regex_match(line, match, kErrorLine)) << line;
    messages.push_back(match[9].str());
  }
  EXPECT_EQ(messages, (std::vector<std::string>{"refused", "back to the file"}));
}

TEST(NeverWaits, IsPerThread) {
  EXPECT_FALSE(thread_never_waits());
  set_thread_never_waits(true);
  bool other = true;
  std::thread([&other] { other = thread_never_waits(); }).join();
  EXPECT_TRUE(thread_never_waits());
  EXPECT_FALSE(other);
  set_thread_never_waits(false);
}

TEST(GlobalLogger, IsOnePerProcess) {
  EXPECT_EQ(&logger(), &logger());
  EXPECT_EQ(logger().error_fd(), 2);
  EXPECT_FALSE(logger().access_enabled());
}

}  // namespace
}  // namespace narwhal::log
