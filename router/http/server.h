// The HTTP/1.1 server (Boost.Beast behind a pimpl): keep-alive, per-connection timeouts, a body
// limit (413), chunked streaming for SSE, and disconnect detection so the engine can cancel.
//
// The application sees only Request and Responder: a handler gets each request on a network
// thread and answers through the Responder, at once or later from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/serving_limits.h"

namespace tg::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string path;    // target without the query
  std::string query;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;

  std::string Header(const std::string& lower_name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  Headers headers;
};

// One response per request. Thread-safe; calls after the connection closed are ignored.
class Responder {
 public:
  virtual ~Responder() = default;
  virtual void Send(Response response) = 0;
  // Starts a chunked response; then Write() any number of times and End() once.
  virtual void StartStream(int status, std::string content_type, Headers headers) = 0;
  virtual void Write(std::string data) = 0;
  virtual void End() = 0;
  // Registers a callback run once if the peer goes away before the response is complete.
  virtual void OnDisconnect(std::function<void()> callback) = 0;
};

using Handler = std::function<void(Request request, std::shared_ptr<Responder> responder)>;

struct ServerOptions {
  std::string host = "0.0.0.0";
  uint16_t port = 3000;  // 0: pick a free port
  int threads = 2;
  uint64_t payload_limit = limits::kPayloadLimitBytes;
  std::chrono::seconds idle_timeout{60};   // waiting for (the rest of) a request
  std::chrono::seconds write_timeout{60};  // one write to a slow client
};

class Server {
 public:
  Server(ServerOptions options, Handler handler);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts the network threads; throws tg::Error when the address is taken.
  void Start();
  uint16_t bound_port() const;
  // Closes the listening socket: new connections are refused, open ones go on.
  void StopAccepting();
  // Stops the network threads (open connections are closed).
  void Stop();
  // Connections currently open.
  size_t open_connections() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tg::http
