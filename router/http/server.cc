#include "router/http/server.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <chrono>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "common/error.h"

namespace tg::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string StatusLine(int status) {
  const auto reason = bhttp::obsolete_reason(static_cast<bhttp::status>(status));
  return "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason.data(), reason.size()) +
         "\r\n";
}

std::string HeaderBlock(const Headers& headers) {
  std::string out;
  for (const auto& [name, value] : headers) out += name + ": " + value + "\r\n";
  return out;
}

std::string Chunk(const std::string& data) {
  char size[32];
  std::snprintf(size, sizeof(size), "%zx\r\n", data.size());
  return size + data + "\r\n";
}

class Session;

// The Responder of one request; forwards to its session's strand.
class SessionResponder : public Responder, public std::enable_shared_from_this<SessionResponder> {
 public:
  SessionResponder(std::shared_ptr<Session> session, bool keep_alive)
      : session_(std::move(session)), keep_alive_(keep_alive) {}
  void Send(Response response) override;
  void StartStream(int status, std::string content_type, Headers headers) override;
  void Write(std::string data) override;
  void End() override;
  void OnDisconnect(std::function<void()> callback) override;

  void FireDisconnect() {
    std::function<void()> callback;
    {
      std::lock_guard lock(mutex_);
      disconnected_ = true;
      callback = std::move(on_disconnect_);
      on_disconnect_ = nullptr;
    }
    if (callback) callback();
  }

 private:
  std::shared_ptr<Session> session_;
  bool keep_alive_;
  std::mutex mutex_;
  bool finished_ = false;
  bool disconnected_ = false;
  std::function<void()> on_disconnect_;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const ServerOptions& options, const Handler& handler,
          std::atomic<size_t>& open)
      : stream_(std::move(socket)), options_(options), handler_(handler), open_(open) {
    open_.fetch_add(1);
  }
  ~Session() { open_.fetch_sub(1); }

  void Run() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->ReadRequest(); });
  }

  // Queues bytes for the peer; `last` marks the end of the current response.
  void Post(std::string data, bool last, bool close_after) {
    net::post(stream_.get_executor(),
              [self = shared_from_this(), data = std::move(data), last, close_after]() mutable {
                self->writes_.push_back({std::move(data), last, close_after});
                if (!self->writing_) self->WriteNext();
              });
  }

 private:
  struct PendingWrite {
    std::string data;
    bool last = false;
    bool close_after = false;
  };

  void ReadRequest() {
    parser_.emplace();
    parser_->body_limit(options_.payload_limit);
    parser_->header_limit(64 * 1024);
    stream_.expires_after(options_.idle_timeout);
    bhttp::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  // Clients such as curl send large bodies only after "100 Continue".
  void OnHeader(beast::error_code ec) {
    if (ec) return OnRequest(ec);
    const auto& header = parser_->get();
    const auto expect = header[bhttp::field::expect];
    if (beast::iequals(expect, "100-continue") && !parser_->is_done()) {
      auto interim = std::make_shared<std::string>("HTTP/1.1 100 Continue\r\n\r\n");
      net::async_write(stream_, net::buffer(*interim),
                       [self = shared_from_this(), interim](beast::error_code write_ec, size_t) {
                         if (write_ec) return self->Close();
                         self->ReadBody();
                       });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    bhttp::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRequest(ec); });
  }

  void OnRequest(beast::error_code ec) {
    if (ec == bhttp::error::body_limit) {
      return RejectUnread(413, R"({"error":"Payload too large","error_type":"payload_too_large"})");
    }
    if (ec && ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category() &&
        ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
      return RejectUnread(400, R"({"error":"Malformed HTTP request","error_type":"bad_request"})");
    }
    if (ec) return Close();
    auto& message = parser_->get();
    Request request;
    request.method = std::string(message.method_string());
    const std::string target(message.target());
    const size_t q = target.find('?');
    request.path = target.substr(0, q);
    if (q != std::string::npos) request.query = target.substr(q + 1);
    for (const auto& field : message) {
      request.headers[Lower(std::string(field.name_string()))] = std::string(field.value());
    }
    request.body = std::move(message.body());
    const bool keep_alive = message.keep_alive();
    responder_ = std::make_shared<SessionResponder>(shared_from_this(), keep_alive);
    stream_.expires_never();
    in_response_ = true;
    WatchPeer();
    handler_(std::move(request), responder_);
  }

  // Answers a request whose body was not read, then closes with a lingering close: the client
  // is still sending, and closing at once would reset the connection before it reads the status
  // (Python's http.client then sees a broken pipe instead of the 413), as nginx's lingering_close
  // avoids by reading and discarding the rest for a bounded time.
  void RejectUnread(int status, const std::string& body) {
    linger_on_close_ = true;
    Post(StatusLine(status) + "Content-Type: application/json\r\nContent-Length: " +
             std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body,
         true, true);
  }

  // After the response: no more writes, then read and drop what the client still sends until
  // it closes, it pauses longer than kLingerIdle, or kLingerTotal has passed.
  static constexpr auto kLingerIdle = std::chrono::seconds(5);
  static constexpr auto kLingerTotal = std::chrono::seconds(30);
  void LingerThenClose() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    linger_until_ = std::chrono::steady_clock::now() + kLingerTotal;
    DiscardInput();
  }

  void DiscardInput() {
    const auto left = linger_until_ - std::chrono::steady_clock::now();
    if (closed_ || left <= std::chrono::steady_clock::duration::zero()) return Close();
    stream_.expires_after(std::min<std::chrono::steady_clock::duration>(kLingerIdle, left));
    stream_.async_read_some(net::buffer(discard_),
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              if (ec) return self->Close();
                              self->DiscardInput();
                            });
  }

  // While a response is pending, a read tells us when the peer goes away (EOF or reset) so
  // its request can be cancelled; pipelined bytes stay in the buffer for the next request.
  void WatchPeer() {
    if (watching_ || !in_response_ || buffer_.size() > options_.payload_limit) return;
    watching_ = true;
    stream_.socket().async_read_some(
        buffer_.prepare(4096), [self = shared_from_this()](beast::error_code ec, size_t n) {
          self->watching_ = false;
          self->buffer_.commit(n);
          if (ec == net::error::operation_aborted && !self->in_response_) {
            return self->AfterResponse();
          }
          if (ec) {
            self->peer_gone_ = true;
            if (self->responder_) self->responder_->FireDisconnect();
            if (!self->writing_) self->Close();
            return;
          }
          if (self->in_response_)
            self->WatchPeer();
          else
            self->AfterResponse();
        });
  }

  void WriteNext() {
    if (peer_gone_) {
      writing_ = false;
      return Close();
    }
    if (writes_.empty()) {
      writing_ = false;
      return;
    }
    writing_ = true;
    stream_.expires_after(options_.write_timeout);
    net::async_write(
        stream_, net::buffer(writes_.front().data),
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnWritten(ec); });
  }

  void OnWritten(beast::error_code ec) {
    stream_.expires_never();
    PendingWrite done = std::move(writes_.front());
    writes_.pop_front();
    writing_ = false;
    if (ec) {
      peer_gone_ = true;
      if (responder_) responder_->FireDisconnect();
      return Close();
    }
    if (done.last) {
      in_response_ = false;
      responder_.reset();
      if (done.close_after) return linger_on_close_ ? LingerThenClose() : Close();
      keep_alive_next_ = true;
      if (watching_) {
        // The watch read must finish before the next request is read from the same buffer.
        beast::error_code ignored;
        stream_.socket().cancel(ignored);
        return;
      }
      return AfterResponse();
    }
    WriteNext();
  }

  void AfterResponse() {
    if (!keep_alive_next_ || closed_) return;
    keep_alive_next_ = false;
    ReadRequest();
  }

 public:
  // Only once the network threads have stopped.
  void Shutdown() {
    Close();
    responder_.reset();
    writes_.clear();
  }

 private:
  void Close() {
    if (closed_) return;
    closed_ = true;
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
    // The responder points back at this session; dropping our side breaks the cycle so the
    // session is freed once the application lets go of the responder.
    responder_.reset();
    if (!writing_) writes_.clear();
  }

  beast::tcp_stream stream_;
  const ServerOptions& options_;
  const Handler& handler_;
  std::atomic<size_t>& open_;
  beast::flat_buffer buffer_;
  bool linger_on_close_ = false;  // the request's body was left unread (RejectUnread)
  std::chrono::steady_clock::time_point linger_until_;
  std::array<char, 16384> discard_{};
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::shared_ptr<SessionResponder> responder_;
  std::deque<PendingWrite> writes_;
  bool writing_ = false;
  bool watching_ = false;
  bool in_response_ = false;
  bool keep_alive_next_ = false;
  bool peer_gone_ = false;
  bool closed_ = false;
};

void SessionResponder::Send(Response response) {
  std::function<void()> dropped;  // the callback may own whoever owns us: free it outside the lock
  {
    std::lock_guard lock(mutex_);
    if (finished_) return;
    finished_ = true;
    dropped = std::move(on_disconnect_);
    on_disconnect_ = nullptr;
  }
  Headers headers = std::move(response.headers);
  headers.emplace_back("Content-Type", response.content_type);
  headers.emplace_back("Content-Length", std::to_string(response.body.size()));
  if (!keep_alive_) headers.emplace_back("Connection", "close");
  session_->Post(StatusLine(response.status) + HeaderBlock(headers) + "\r\n" + response.body, true,
                 !keep_alive_);
}

void SessionResponder::StartStream(int status, std::string content_type, Headers headers) {
  {
    std::lock_guard lock(mutex_);
    if (finished_) return;
  }
  headers.emplace_back("Content-Type", std::move(content_type));
  headers.emplace_back("Transfer-Encoding", "chunked");
  if (!keep_alive_) headers.emplace_back("Connection", "close");
  session_->Post(StatusLine(status) + HeaderBlock(headers) + "\r\n", false, false);
}

void SessionResponder::Write(std::string data) {
  if (data.empty()) return;
  {
    std::lock_guard lock(mutex_);
    if (finished_) return;
  }
  session_->Post(Chunk(data), false, false);
}

void SessionResponder::End() {
  std::function<void()> dropped;
  {
    std::lock_guard lock(mutex_);
    if (finished_) return;
    finished_ = true;
    dropped = std::move(on_disconnect_);
    on_disconnect_ = nullptr;
  }
  session_->Post("0\r\n\r\n", true, !keep_alive_);
}

void SessionResponder::OnDisconnect(std::function<void()> callback) {
  {
    std::lock_guard lock(mutex_);
    if (finished_) return;  // answered already: nothing left to cancel
    if (!disconnected_) {
      on_disconnect_ = std::move(callback);
      return;
    }
  }
  callback();
}

}  // namespace

std::string Request::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

struct Server::Impl {
  // Declared before `io`: sessions destroyed with the io_context still use them.
  ServerOptions options;
  Handler handler;
  std::atomic<size_t> open{0};
  uint16_t port = 0;
  std::mutex sessions_mutex;
  std::vector<std::weak_ptr<Session>> sessions;
  net::io_context io;
  std::optional<tcp::acceptor> acceptor;
  std::vector<std::thread> threads;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;

  void Accept() {
    acceptor->async_accept(net::make_strand(io), [this](beast::error_code ec, tcp::socket s) {
      if (ec == net::error::operation_aborted || !acceptor->is_open()) return;
      if (!ec) {
        beast::error_code ignored;
        s.set_option(tcp::no_delay(true), ignored);
        auto session = std::make_shared<Session>(std::move(s), options, handler, open);
        {
          std::lock_guard lock(sessions_mutex);
          std::erase_if(sessions, [](const std::weak_ptr<Session>& w) { return w.expired(); });
          sessions.push_back(session);
        }
        session->Run();
      }
      Accept();
    });
  }
};

Server::Server(ServerOptions options, Handler handler) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->handler = std::move(handler);
}

Server::~Server() { Stop(); }

void Server::Start() {
  beast::error_code ec;
  const auto address = net::ip::make_address(impl_->options.host, ec);
  TG_CHECK(!ec, kInvalidArgument, "bad --hostname: " + impl_->options.host);
  tcp::endpoint endpoint(address, impl_->options.port);
  auto& acceptor = impl_->acceptor.emplace(impl_->io);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  TG_CHECK(!ec, kUnavailable,
           "cannot listen on " + impl_->options.host + ":" + std::to_string(impl_->options.port) +
               ": " + ec.message());
  impl_->port = acceptor.local_endpoint().port();
  impl_->work.emplace(impl_->io.get_executor());
  impl_->Accept();
  for (int i = 0; i < std::max(1, impl_->options.threads); ++i) {
    impl_->threads.emplace_back([this] { impl_->io.run(); });
  }
}

uint16_t Server::bound_port() const { return impl_->port; }

void Server::StopAccepting() {
  net::post(impl_->io, [this] {
    beast::error_code ignored;
    if (impl_->acceptor) impl_->acceptor->close(ignored);
  });
}

void Server::Stop() {
  if (impl_->threads.empty()) return;
  impl_->work.reset();
  impl_->io.stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
  // With the network threads gone, close what is left so sessions and responders that point
  // at each other are freed.
  std::lock_guard lock(impl_->sessions_mutex);
  for (auto& weak : impl_->sessions) {
    if (auto session = weak.lock()) session->Shutdown();
  }
  impl_->sessions.clear();
}

size_t Server::open_connections() const { return impl_->open.load(); }

}  // namespace tg::http
