#include "bench/load_runner.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>

#include "bench/sse.h"
#include "common/error.h"

namespace tg::bench {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

struct Url {
  std::string host;
  std::string port;
};

Url ParseBaseUrl(const std::string& url) {
  const std::string scheme = "http://";
  TG_CHECK(url.rfind(scheme, 0) == 0, kInvalidArgument, "only http:// URLs are supported: " + url);
  std::string rest = url.substr(scheme.size());
  if (const size_t slash = rest.find('/'); slash != std::string::npos) rest.resize(slash);
  const size_t colon = rest.rfind(':');
  if (colon == std::string::npos) return {rest, "80"};
  return {rest.substr(0, colon), rest.substr(colon + 1)};
}

// One streamed request on its own connection. Keeps itself alive through its handlers.
class StreamingCall : public std::enable_shared_from_this<StreamingCall> {
 public:
  using Done = std::function<void(RequestOutcome)>;

  StreamingCall(asio::io_context& io, const tcp::resolver::results_type& endpoints,
                const TargetOptions& target, const Url& url, const WorkloadRequest& request,
                Clock::time_point bench_start, Done done)
      : stream_(io),
        endpoints_(endpoints),
        target_(target),
        accumulator_(target.protocol),
        bench_start_(bench_start),
        done_(std::move(done)) {
    outcome_.prompt_len = request.prompt_len;
    outcome_.expected_output = request.output_len;
    std::string path = target.endpoint;
    if (path.empty()) {
      path = target.protocol == Protocol::kTgi ? "/generate_stream" : "/v1/completions";
    }
    request_ = http::request<http::string_body>(http::verb::post, path, 11);
    request_.set(http::field::host, url.host + ":" + url.port);
    request_.set(http::field::content_type, "application/json");
    request_.set(http::field::accept, "text/event-stream");
    if (!target.api_key.empty()) {
      request_.set(http::field::authorization, "Bearer " + target.api_key);
    }
    request_.body() = BuildRequestBody(target, request);
    request_.prepare_payload();
    // No limit. Not boost::none: Boost 1.74 compares a Content-Length against the empty optional
    // and rejects every non-chunked response (an error's JSON body) as "body limit exceeded".
    parser_.body_limit(std::numeric_limits<std::uint64_t>::max());
  }

  void Start() {
    sent_ = Clock::now();
    outcome_.start = Seconds(sent_ - bench_start_);
    stream_.expires_after(std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(target_.request_timeout)));
    stream_.async_connect(endpoints_, [self = shared_from_this()](beast::error_code ec,
                                                                  const tcp::endpoint&) {
      if (ec) return self->Fail("connect: " + ec.message());
      http::async_write(self->stream_, self->request_, [self](beast::error_code write_ec, size_t) {
        if (write_ec) return self->Fail("write: " + write_ec.message());
        self->ReadSome();
      });
    });
  }

 private:
  void ReadSome() {
    http::async_read_some(
        stream_, buffer_, parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    const double elapsed = Seconds(Clock::now() - sent_);
    if (ec && ec != http::error::end_of_stream && ec != asio::error::eof) {
      return Fail("read: " + ec.message());
    }
    if (parser_.is_header_done() && parser_.get().result() != http::status::ok) {
      if (!parser_.is_done() && !ec) return ReadSome();  // collect the error body
      return Fail("HTTP " + std::to_string(parser_.get().result_int()) + ": " +
                  parser_.get().body().substr(0, 300));
    }
    const std::string& body = parser_.get().body();
    if (body.size() > consumed_) {
      for (const std::string& event : sse_.Feed(std::string_view(body).substr(consumed_))) {
        accumulator_.OnEvent(event, elapsed);
      }
      consumed_ = body.size();
    }
    if (parser_.is_done() || ec) {
      for (const std::string& event : sse_.Finish()) accumulator_.OnEvent(event, elapsed);
      return Complete(elapsed);
    }
    ReadSome();
  }

  void Fail(const std::string& message) {
    accumulator_.Fail(message);
    Complete(Seconds(Clock::now() - sent_));
  }

  void Complete(double elapsed) {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    accumulator_.Finish(elapsed, &outcome_);
    done_(std::move(outcome_));
  }

  beast::tcp_stream stream_;
  const tcp::resolver::results_type& endpoints_;
  const TargetOptions& target_;
  http::request<http::string_body> request_;
  http::response_parser<http::string_body> parser_;
  beast::flat_buffer buffer_;
  SseParser sse_;
  size_t consumed_ = 0;
  StreamAccumulator accumulator_;
  RequestOutcome outcome_;
  Clock::time_point bench_start_;
  Clock::time_point sent_;
  Done done_;
};

}  // namespace

std::string BuildRequestBody(const TargetOptions& target, const WorkloadRequest& request) {
  nlohmann::json body;
  if (target.protocol == Protocol::kTgi) {
    body["inputs"] = request.prompt;
    body["parameters"] = {
        {"max_new_tokens", request.output_len}, {"details", true}, {"do_sample", false}};
    // Our extension (vLLM has the same field); TGI itself has no way to ignore EOS.
    if (target.ignore_eos) body["parameters"]["ignore_eos"] = true;
  } else {
    body["model"] = target.model;
    body["prompt"] = request.prompt;
    body["max_tokens"] = request.output_len;
    body["temperature"] = 0.0;
    body["stream"] = true;
    body["stream_options"] = {{"include_usage", true}};
    if (target.ignore_eos) body["ignore_eos"] = true;
  }
  return body.dump();
}

RunResult RunLoad(const std::vector<WorkloadRequest>& requests, const std::vector<double>& offsets,
                  const RunOptions& options) {
  TG_CHECK(requests.size() == offsets.size(), kInvalidArgument, "one offset per request");
  const Url url = ParseBaseUrl(options.target.base_url);
  asio::io_context io;
  tcp::resolver resolver(io);
  const auto endpoints = resolver.resolve(url.host, url.port);

  RunResult result;
  result.outcomes.resize(requests.size());
  std::deque<size_t> waiting;
  size_t in_flight = 0;
  const Clock::time_point start = Clock::now();
  Clock::time_point last_done = start;

  std::function<void(size_t)> launch = [&](size_t index) {
    ++in_flight;
    auto call = std::make_shared<StreamingCall>(io, endpoints, options.target, url, requests[index],
                                                start, [&, index](RequestOutcome outcome) {
                                                  result.outcomes[index] = std::move(outcome);
                                                  last_done = Clock::now();
                                                  --in_flight;
                                                  if (!waiting.empty()) {
                                                    const size_t next = waiting.front();
                                                    waiting.pop_front();
                                                    launch(next);
                                                  }
                                                });
    call->Start();
  };
  auto arrive = [&](size_t index) {
    if (options.max_concurrency == 0 || in_flight < options.max_concurrency) {
      launch(index);
    } else {
      waiting.push_back(index);
    }
  };

  std::vector<std::unique_ptr<asio::steady_timer>> timers;
  timers.reserve(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    if (offsets[i] <= 0) {
      arrive(i);
      continue;
    }
    auto timer = std::make_unique<asio::steady_timer>(
        io, start + std::chrono::duration_cast<Clock::duration>(
                        std::chrono::duration<double>(offsets[i])));
    timer->async_wait([&, i](beast::error_code ec) {
      if (!ec) arrive(i);
    });
    timers.push_back(std::move(timer));
  }
  io.run();
  result.duration = Seconds(last_done - start);
  return result;
}

}  // namespace tg::bench
