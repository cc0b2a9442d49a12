// tls::Session over a non-blocking socketpair against an OpenSSL client: the handshake in steps,
// reads that leave decrypted bytes inside OpenSSL (pending), writes retried after the socket was
// full (from another copy of the same bytes, as the output queue does), small iovecs sharing one
// record, file ranges, ragged EOFs both ways, and a plain-HTTP client told apart.
#include "tls/session.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "base/io.h"
#include "base/unique_fd.h"
#include "net/output_queue.h"

namespace narwhal::tls {
namespace {

// A self-signed EC certificate made in memory.
SSL_CTX* make_server_context() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* certificate = X509_new();
  ASN1_INTEGER_set(X509_get_serialNumber(certificate), 1);
  X509_gmtime_adj(X509_getm_notBefore(certificate), 0);
  X509_gmtime_adj(X509_getm_notAfter(certificate), 3600);
  X509_set_pubkey(certificate, key);
  X509_NAME* name = X509_get_subject_name(certificate);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(certificate, name);
  X509_sign(certificate, key, EVP_sha256());
  SSL_CTX* context = SSL_CTX_new(TLS_server_method());
  SSL_CTX_use_certificate(context, certificate);
  SSL_CTX_use_PrivateKey(context, key);
  X509_free(certificate);
  EVP_PKEY_free(key);
  return context;
}

struct Pair {
  UniqueFd server, client;
  Pair() {
    int fds[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    server = UniqueFd(fds[0]);
    client = UniqueFd(fds[1]);
    io::set_nonblocking(fds[0], true);
    io::set_nonblocking(fds[1], true);
  }
};

class SessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SSL_CTX* raw = make_server_context();
    context_ = Context::adopt(raw, {"h2", "http/1.1"});
    SSL_CTX_free(raw);  // the Context holds its own reference
    client_context_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(client_context_, SSL_VERIFY_NONE, nullptr);
  }
  void TearDown() override {
    if (client_) SSL_free(client_);
    SSL_CTX_free(client_context_);
  }

  // Both sides step until the handshake is done (neither ever blocks).
  void connect(Session& server, const char* alpn_wire = nullptr, unsigned alpn_length = 0) {
    client_ = SSL_new(client_context_);
    SSL_set_fd(client_, pair_.client.get());
    if (alpn_wire) SSL_set_alpn_protos(client_, reinterpret_cast<const unsigned char*>(alpn_wire), alpn_length);
    SSL_set_connect_state(client_);
    std::string reason;
    bool server_done = false, client_done = false;
    for (int i = 0; i < 100 && !(server_done && client_done); ++i) {
      if (!client_done) {
        int rc = SSL_do_handshake(client_);
        client_done = rc == 1;
        if (rc != 1) {
          ASSERT_TRUE(SSL_get_error(client_, rc) == SSL_ERROR_WANT_READ);
        }
      }
      if (!server_done) {
        Session::Handshake state = server.handshake(&reason);
        ASSERT_NE(state, Session::Handshake::Failed) << reason;
        server_done = state == Session::Handshake::Done;
      }
    }
    ASSERT_TRUE(server_done && client_done);
  }

  std::string client_read_all() {
    std::string data;
    char buffer[65536];
    for (;;) {
      int n = SSL_read(client_, buffer, sizeof buffer);
      if (n <= 0) break;
      data.append(buffer, static_cast<size_t>(n));
    }
    ERR_clear_error();
    return data;
  }

  std::shared_ptr<Context> context_;
  SSL_CTX* client_context_ = nullptr;
  SSL* client_ = nullptr;
  Pair pair_;
};

TEST_F(SessionTest, HandshakeInStepsThenBytesBothWays) {
  Session server(*context_, pair_.server.get(), true);
  ASSERT_TRUE(server.valid());
  char buffer[64];
  EXPECT_EQ(server.read(buffer, sizeof buffer), io::kWouldBlock);  // nothing yet: no handshake either
  connect(server, "\x02h2\x08http/1.1", 12);
  EXPECT_EQ(server.alpn(), "h2");  // the server's preference wins
  EXPECT_EQ(server.version(), "TLSv1.3");
  EXPECT_TRUE(server.peer_certificate_der().empty());
  ASSERT_EQ(SSL_write(client_, "GET / HTTP/1.1\r\n\r\n", 18), 18);
  ssize_t n = server.read(buffer, sizeof buffer);
  ASSERT_EQ(n, 18);
  EXPECT_EQ(std::string(buffer, 18), "GET / HTTP/1.1\r\n\r\n");
  EXPECT_EQ(server.read(buffer, sizeof buffer), io::kWouldBlock);
  EXPECT_EQ(server.write("HTTP/1.1 200 OK\r\n\r\n", 19), 19);
  EXPECT_EQ(client_read_all(), "HTTP/1.1 200 OK\r\n\r\n");
}

TEST_F(SessionTest, AlpnWithoutACommonProtocolIsNoAnswer) {
  Session server(*context_, pair_.server.get(), true);
  connect(server, "\x06spdy/3", 7);
  EXPECT_EQ(server.alpn(), "");
}

TEST_F(SessionTest, ARecordLargerThanTheBufferLeavesBytesPending) {
  Session server(*context_, pair_.server.get(), true);
  connect(server);
  std::string record(10000, 'r');
  ASSERT_EQ(SSL_write(client_, record.data(), static_cast<int>(record.size())), 10000);
  char buffer[4096];
  ASSERT_EQ(server.read(buffer, sizeof buffer), 4096);
  // The socket is drained; the rest of the record waits inside OpenSSL: epoll would not say.
  char byte;
  EXPECT_EQ(::recv(pair_.server.get(), &byte, 1, MSG_PEEK | MSG_DONTWAIT), -1);
  EXPECT_TRUE(server.pending());
  ASSERT_EQ(server.read(buffer, sizeof buffer), 4096);
  ASSERT_EQ(server.read(buffer, sizeof buffer), 10000 - 8192);
  EXPECT_FALSE(server.pending());
}

TEST_F(SessionTest, SmallIovecsShareOneRecordAndALargeOneGoesDirect) {
  Session server(*context_, pair_.server.get(), true);
  connect(server);
  client_read_all();  // the session tickets sent after the handshake
  std::string large(100000, 'L');
  struct iovec iov[4] = {{const_cast<char*>("head\r\n"), 6}, {const_cast<char*>("5\r\n"), 3},
                         {const_cast<char*>("hello"), 5}, {large.data(), large.size()}};
  ASSERT_EQ(server.writev(iov, 3), 14);
  // One record for the three: 5 header bytes + 14 + 1 content type + 16 tag.
  char wire[256];
  EXPECT_EQ(::recv(pair_.client.get(), wire, sizeof wire, MSG_PEEK), 5 + 14 + 1 + 16);
  EXPECT_EQ(client_read_all(), "head\r\n5\r\nhello");
  ssize_t sent = 0;
  while (sent < static_cast<ssize_t>(large.size())) {
    ssize_t n = server.writev(&iov[3], 1);
    if (n == io::kWouldBlock) {
      client_read_all();
      continue;
    }
    ASSERT_GT(n, 0);
    sent += n;
    iov[3].iov_base = static_cast<char*>(iov[3].iov_base) + n;
    iov[3].iov_len -= static_cast<size_t>(n);
  }
}

TEST_F(SessionTest, AWriteRetriedFromAnotherCopyAfterTheSocketFilledUp) {
  Session server(*context_, pair_.server.get(), true);
  connect(server);
  // The output queue's path: write what the socket takes, queue a copy of the rest, flush it
  // later — OpenSSL sees the retried record come from another buffer.
  std::string body(4 << 20, '\0');
  for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>(i * 7);
  ssize_t n = server.write(body.data(), body.size());
  ASSERT_GT(n, 0);
  ASSERT_LT(static_cast<size_t>(n), body.size());
  net::OutputQueue queue;
  queue.push_copy(std::string_view(body).substr(static_cast<size_t>(n)));
  std::string received;
  net::Transport transport{pair_.server.get(), &server};
  for (int i = 0; i < 10000 && !queue.empty(); ++i) {
    received += client_read_all();
    ASSERT_NE(queue.flush(transport), net::OutputQueue::Flush::Error);
  }
  received += client_read_all();
  ASSERT_EQ(received.size(), body.size());
  EXPECT_TRUE(received == body);
}

TEST_F(SessionTest, FileRangesAreEncryptedFromReads) {
  Session server(*context_, pair_.server.get(), true);
  connect(server);
  char path[] = "/tmp/narwhal-tls-test-XXXXXX";
  UniqueFd file(mkstemp(path));
  ::unlink(path);
  std::string content(300000, 'f');
  content[0] = 'A';
  content[299999] = 'Z';
  ASSERT_EQ(::write(file.get(), content.data(), content.size()), 300000);
  off_t offset = 1;  // a range: from the second byte
  std::string received;
  while (offset < 300000) {
    ssize_t n = server.send_file(file.get(), &offset, static_cast<size_t>(300000 - offset));
    if (n == io::kWouldBlock) {
      received += client_read_all();
      continue;
    }
    ASSERT_GT(n, 0);
  }
  received += client_read_all();
  EXPECT_EQ(received, content.substr(1));
}

TEST_F(SessionTest, RaggedEofIsAnEofOnlyWhenSuppressed) {
  for (bool suppress : {true, false}) {
    Pair pair;
    Session server(*context_, pair.server.get(), suppress);
    std::swap(pair_.server, pair.server);
    std::swap(pair_.client, pair.client);
    if (client_) SSL_free(client_);
    connect(server);
    ASSERT_EQ(SSL_write(client_, "partial", 7), 7);
    ::shutdown(pair_.client.get(), SHUT_WR);  // no close_notify
    char buffer[64];
    EXPECT_EQ(server.read(buffer, sizeof buffer), 7);
    EXPECT_EQ(server.read(buffer, sizeof buffer), suppress ? 0 : -ECONNRESET) << suppress;
    std::swap(pair_.server, pair.server);
    std::swap(pair_.client, pair.client);
  }
}

TEST_F(SessionTest, CloseNotifyIsAnEofBothWays) {
  Session server(*context_, pair_.server.get(), false);
  connect(server);
  SSL_shutdown(client_);
  char buffer[16];
  EXPECT_EQ(server.read(buffer, sizeof buffer), 0);
}

TEST_F(SessionTest, PlainHttpIsToldApartFromGarbage) {
  {
    Session server(*context_, pair_.server.get(), true);
    ASSERT_EQ(::write(pair_.client.get(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27), 27);
    std::string reason;
    EXPECT_EQ(server.handshake(&reason), Session::Handshake::Failed);
    EXPECT_TRUE(server.plain_http());
  }
  Pair pair;
  Session server(*context_, pair.server.get(), true);
  ASSERT_EQ(::write(pair.client.get(), "\x16\x03\x01\x00\x05garbage", 12), 12);
  std::string reason;
  EXPECT_EQ(server.handshake(&reason), Session::Handshake::Failed);
  EXPECT_FALSE(server.plain_http());
  EXPECT_FALSE(reason.empty());
}

TEST_F(SessionTest, APeerThatLeavesMidHandshakeFails) {
  Session server(*context_, pair_.server.get(), true);
  pair_.client.reset();
  std::string reason;
  EXPECT_EQ(server.handshake(&reason), Session::Handshake::Failed);
  EXPECT_FALSE(reason.empty());
}

}  // namespace
}  // namespace narwhal::tls
