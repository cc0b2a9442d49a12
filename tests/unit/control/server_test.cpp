// The control server over a real Unix socket, its poll loop driven by the test: replies, bad
// input, a dump answered through the scoreboard, and the socket file's life.
#include "control/server.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "fake_master.h"

namespace narwhal::control {
namespace {

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/narwhal-control-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    directory_ = pattern;
    options_.path = directory_ + "/sub/ctl.sock";
  }
  void TearDown() override { std::filesystem::remove_all(directory_); }

  // One loop turn: what the arbiter's sleep does.
  void turn(Server& server, int timeout_ms = 50) {
    std::vector<pollfd> fds;
    server.add_poll_fds(&fds);
    if (::poll(fds.data(), fds.size(), timeout_ms) > 0) server.handle(fds.data(), fds.size(), now_ms_);
    server.tick(now_ms_);
  }
  int connect_client() {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, options_.path.c_str(), sizeof address.sun_path - 1);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    return fd;
  }
  // Reads one reply, running the server's loop meanwhile; nullopt when the server closed.
  std::optional<nlohmann::json> reply(Server& server, int fd) {
    FrameReader& reader = readers_[fd];  // replies may arrive together
    for (int i = 0; i < 100; ++i) {
      std::string payload;
      uint32_t length = 0;
      if (reader.next(&payload, &length, 1u << 30) == FrameReader::Result::Frame) return nlohmann::json::parse(payload);
      turn(server, 10);
      char buffer[4096];
      const ssize_t n = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
      if (n == 0) return std::nullopt;
      if (n > 0) reader.append(std::string_view(buffer, static_cast<size_t>(n)));
    }
    ADD_FAILURE() << "no reply";
    return std::nullopt;
  }
  static void send_all(int fd, std::string_view bytes) {
    ASSERT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
  }

  std::string directory_;
  std::map<int, FrameReader> readers_;
  ServerOptions options_;
  FakeMaster master_;
  int64_t now_ms_ = 1000;
};

TEST_F(ServerTest, CreatesTheSocketWithItsModeAndAnswers) {
  Server server(master_, options_, {});
  std::string error;
  ASSERT_TRUE(server.open(&error)) << error;
  struct stat info;
  ASSERT_EQ(::stat(options_.path.c_str(), &info), 0);
  EXPECT_TRUE(S_ISSOCK(info.st_mode));
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((directory_ + "/sub").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0700u);

  const int fd = connect_client();
  send_all(fd, encode_frame({{"id", 5}, {"command", "worker add"}, {"args", {2}}}));
  send_all(fd, encode_frame({{"id", 6}, {"command", "show stats"}}));  // pipelined: answered in order
  EXPECT_EQ(reply(server, fd), ok_reply(5, {{"added", 2}, {"previous", 2}, {"total", 4}}));
  std::optional<nlohmann::json> stats = reply(server, fd);
  ASSERT_TRUE(stats);
  EXPECT_EQ((*stats)["id"], 6);
  EXPECT_EQ((*stats)["data"]["workers_target"], 4);
  ::close(fd);
  server.close();
  EXPECT_NE(::access(options_.path.c_str(), F_OK), 0);  // removed: it was ours
}

TEST_F(ServerTest, BadInputGetsAnErrorThenTheRightConnectionState) {
  Server server(master_, options_, {});
  std::string error;
  ASSERT_TRUE(server.open(&error)) << error;
  const int fd = connect_client();
  send_all(fd, encode_frame("just a string"));
  EXPECT_EQ((*reply(server, fd))["status"], "error");
  send_all(fd, std::string("\0\0\0\x05{oops", 9));
  EXPECT_EQ(*reply(server, fd), error_reply(nullptr, "Invalid JSON"));
  send_all(fd, encode_frame({{"id", 1}, {"command", "help"}}));  // still usable
  EXPECT_EQ((*reply(server, fd))["status"], "ok");
  send_all(fd, "\x7f\xff\xff\xff");
  EXPECT_EQ(*reply(server, fd), error_reply(nullptr, "Message too large: 2147483647"));
  EXPECT_FALSE(reply(server, fd));  // then closed
  ::close(fd);

  const int truncated = connect_client();  // half a request: no reply, no stall
  send_all(truncated, encode_frame({{"id", 1}, {"command", "help"}}).substr(0, 6));
  for (int i = 0; i < 3; ++i) turn(server, 10);
  now_ms_ += options_.idle_timeout_ms + 1;  // until the idle timeout
  EXPECT_FALSE(reply(server, truncated));
  ::close(truncated);
}

TEST_F(ServerTest, AClientThatShutsItsSendingSideIsAnsweredThenClosed) {
  Server server(master_, options_, {});
  std::string error;
  ASSERT_TRUE(server.open(&error)) << error;
  const int fd = connect_client();  // as `printf ... | socat - UNIX-CONNECT:...` does
  send_all(fd, encode_frame({{"id", 1}, {"command", "help"}}) + encode_frame({{"id", 2}, {"command", "reopen"}}));
  ASSERT_EQ(::shutdown(fd, SHUT_WR), 0);
  EXPECT_EQ((*reply(server, fd))["id"], 1);
  EXPECT_EQ((*reply(server, fd))["id"], 2);
  EXPECT_FALSE(reply(server, fd));  // then closed
  ::close(fd);
  EXPECT_EQ(master_.signals, std::vector<int>{SIGUSR1});
}

TEST_F(ServerTest, DumpIsAnsweredWhenTheWorkerPublishes) {
  auto board = std::make_unique<workers::Scoreboard>();
  master_.pids = {::getpid()};  // SIGWINCH to ourselves is harmless (ignored by default)
  master_.boards = {board.get()};
  Server server(master_, options_, {});
  std::string error;
  ASSERT_TRUE(server.open(&error)) << error;
  const int fd = connect_client();
  send_all(fd, encode_frame({{"id", 3}, {"command", "dump " + std::to_string(::getpid())}}));
  for (int i = 0; i < 5; ++i) turn(server, 10);
  EXPECT_LT(server.timeout_ms(1000), 1000);  // the loop wakes up to check
  ASSERT_EQ(board->dump_requested.load(), 1u);
  board->publish_dump("Thread MainThread\n  File \"app.py\"");
  std::optional<nlohmann::json> answer = reply(server, fd);
  ASSERT_TRUE(answer);
  EXPECT_EQ((*answer)["data"]["stacks"], "Thread MainThread\n  File \"app.py\"");
  EXPECT_EQ(server.timeout_ms(1000), 1000);

  send_all(fd, encode_frame({{"id", 4}, {"command", "dump " + std::to_string(::getpid())}}));
  for (int i = 0; i < 3; ++i) turn(server, 10);
  now_ms_ += options_.dump_timeout_ms;  // the worker never answers
  answer = reply(server, fd);
  ASSERT_TRUE(answer);
  EXPECT_EQ((*answer)["status"], "error");
  ::close(fd);
}

TEST_F(ServerTest, LeavesAFileThatIsNotASocketAndASocketThatIsNotItsOwn) {
  std::filesystem::create_directories(directory_ + "/sub");
  { std::ofstream(options_.path) << "precious"; }
  Server refused(master_, options_, {});
  std::string error;
  EXPECT_FALSE(refused.open(&error));
  EXPECT_NE(error.find("not a socket"), std::string::npos);
  std::filesystem::remove(options_.path);

  Server old_master(master_, options_, {});
  ASSERT_TRUE(old_master.open(&error)) << error;
  Server new_master(master_, options_, {});  // a USR2 upgrade's new master takes the path over
  ASSERT_TRUE(new_master.open(&error)) << error;
  old_master.close();
  EXPECT_EQ(::access(options_.path.c_str(), F_OK), 0);  // not the old master's to remove
  new_master.close();
  EXPECT_NE(::access(options_.path.c_str(), F_OK), 0);
}

}  // namespace
}  // namespace narwhal::control
