// The HTTP server over real loopback sockets, with small handlers standing in for the routes.
#include "router/http/server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <thread>

namespace tg::http {
namespace {

int Connect(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  timeval timeout{.tv_sec = 5, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  return fd;
}

void SendAll(int fd, const std::string& data) {
  ASSERT_EQ(send(fd, data.data(), data.size(), MSG_NOSIGNAL), static_cast<ssize_t>(data.size()));
}

// Reads until `needle` has arrived (or the peer closes / times out).
std::string ReadUntil(int fd, const std::string& needle) {
  std::string out;
  char buf[4096];
  while (out.find(needle) == std::string::npos) {
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

std::string Post(const std::string& path, const std::string& body) {
  return "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void Start(Handler handler) {
    server_ = std::make_unique<Server>(
        ServerOptions{.host = "127.0.0.1", .port = 0, .threads = 2, .payload_limit = 1000},
        std::move(handler));
    server_->Start();
  }
  std::unique_ptr<Server> server_;
};

TEST_F(HttpServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  Start([](Request request, std::shared_ptr<Responder> responder) {
    responder->Send({.status = 200,
                     .content_type = "text/plain",
                     .body = request.method + " " + request.path + " " + request.body});
  });
  const int fd = Connect(server_->bound_port());
  ASSERT_GE(fd, 0);
  SendAll(fd, Post("/a?x=1", "one"));
  EXPECT_NE(ReadUntil(fd, "POST /a one").find("HTTP/1.1 200 OK"), std::string::npos);
  SendAll(fd, Post("/b", "two"));
  EXPECT_NE(ReadUntil(fd, "POST /b two").find("POST /b two"), std::string::npos);
  close(fd);
}

TEST_F(HttpServerTest, BodiesOverTheLimitGet413) {
  Start([](Request, std::shared_ptr<Responder> responder) { responder->Send({}); });
  const int fd = Connect(server_->bound_port());
  SendAll(fd, Post("/", std::string(1001, 'x')));
  EXPECT_NE(ReadUntil(fd, "payload_too_large").find("413"), std::string::npos);
  close(fd);
}

TEST_F(HttpServerTest, StreamsChunkedEventsFromAnotherThread) {
  Start([](Request, std::shared_ptr<Responder> responder) {
    responder->StartStream(200, "text/event-stream", {});
    std::thread([responder] {
      for (int i = 0; i < 3; ++i) responder->Write("data:" + std::to_string(i) + "\n\n");
      responder->End();
    }).detach();
  });
  const int fd = Connect(server_->bound_port());
  SendAll(fd, Post("/s", "{}"));
  const std::string out = ReadUntil(fd, "0\r\n\r\n");
  EXPECT_NE(out.find("Transfer-Encoding: chunked"), std::string::npos);
  EXPECT_NE(out.find("8\r\ndata:0\n\n\r\n8\r\ndata:1\n\n\r\n8\r\ndata:2\n\n\r\n0\r\n\r\n"),
            std::string::npos)
      << out;
  close(fd);
}

TEST_F(HttpServerTest, ReportsAClientThatGoesAwayBeforeTheResponse) {
  std::promise<void> disconnected;
  std::shared_ptr<Responder> held;
  std::mutex mutex;
  Start([&](Request, std::shared_ptr<Responder> responder) {
    responder->OnDisconnect([&] { disconnected.set_value(); });
    std::lock_guard lock(mutex);
    held = responder;  // never answered
  });
  const int fd = Connect(server_->bound_port());
  SendAll(fd, Post("/slow", "{}"));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  close(fd);
  EXPECT_EQ(disconnected.get_future().wait_for(std::chrono::seconds(5)), std::future_status::ready);
  {
    std::lock_guard lock(mutex);
    held->Send({});  // answering a gone client is harmless
    held.reset();
  }
  // Once the application lets go of the responder, the session is freed.
  for (int i = 0; i < 100 && server_->open_connections() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(server_->open_connections(), 0u);
}

TEST_F(HttpServerTest, StopAcceptingRefusesNewConnections) {
  Start([](Request, std::shared_ptr<Responder> responder) { responder->Send({}); });
  const uint16_t port = server_->bound_port();
  server_->StopAccepting();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const int fd = Connect(port);
  EXPECT_LT(fd, 0);
  if (fd >= 0) close(fd);
}

}  // namespace
}  // namespace tg::http
