#include "shard/parallel/bootstrap.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "common/error.h"
#include "shard/parallel/tcp_socket.h"

namespace tg::parallel {
namespace {

using net::Clock;

constexpr uint32_t kMagic = 0x434E4754;  // "TGNC" little-endian
constexpr uint32_t kVersion = 1;
// How long one connection may take to exchange its messages, so that a silent peer cannot
// stall rank 0's serving loop.
constexpr std::chrono::seconds kExchangeTimeout{5};

enum class Status : uint32_t {
  kOk = 0,
  kWorldSizeMismatch = 1,
  kVersionMismatch = 2,
  kBadRank = 3,
  kDuplicateRank = 4,
};

struct Request {
  uint32_t magic, version, world_size, rank;
};
struct Reply {
  uint32_t magic, version, status, world_size;
};

template <size_t N>
void PutWords(const uint32_t (&words)[N], uint8_t* out) {
  for (size_t i = 0; i < N; ++i) {
    for (int b = 0; b < 4; ++b) out[i * 4 + b] = static_cast<uint8_t>(words[i] >> (8 * b));
  }
}
template <size_t N>
void GetWords(const uint8_t* in, uint32_t (&words)[N]) {
  for (size_t i = 0; i < N; ++i) {
    words[i] = 0;
    for (int b = 0; b < 4; ++b) words[i] |= static_cast<uint32_t>(in[i * 4 + b]) << (8 * b);
  }
}

std::string Endpoint(const BootstrapOptions& options, uint16_t port) {
  return options.master_addr + ":" + std::to_string(port);
}

std::string Seconds(std::chrono::milliseconds ms) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f s", static_cast<double>(ms.count()) / 1000.0);
  return text;
}

}  // namespace

struct BootstrapServer::State {
  BootstrapOptions options;
  UniqueIdBlob id;
  net::Socket listener;
  uint16_t port = 0;
  std::thread thread;

  std::mutex mutex;
  std::condition_variable finished_cv;
  bool finished = false;
  bool stop = false;
  std::vector<bool> served;  // by rank
  std::optional<Error> error;

  int Missing() const {
    return static_cast<int>(std::count(served.begin() + 1, served.end(), false));
  }
  void Serve();
  // Answers one connection; returns an error that ends the bootstrap, if any.
  std::optional<Error> Handle(const net::Socket& peer);
};

std::optional<Error> BootstrapServer::State::Handle(const net::Socket& peer) {
  const auto deadline = Clock::now() + kExchangeTimeout;
  std::string io_error;
  uint8_t request_bytes[16];
  if (!net::RecvAll(peer, request_bytes, sizeof(request_bytes), deadline, &io_error)) {
    spdlog::debug("bootstrap: dropped a connection: {}", io_error);
    return std::nullopt;
  }
  uint32_t words[4];
  GetWords(request_bytes, words);
  Request request{words[0], words[1], words[2], words[3]};
  if (request.magic != kMagic) {
    spdlog::warn("bootstrap: ignored a connection that is not a text-gen rank");
    return std::nullopt;
  }

  const int world = options.world_size;
  const std::string who = "rank " + std::to_string(request.rank);
  Status status = Status::kOk;
  std::optional<Error> failure;
  if (request.version != kVersion) {
    status = Status::kVersionMismatch;
    failure =
        Error(ErrorKind::kInvalidArgument,
              "bootstrap: " + who + " speaks protocol version " + std::to_string(request.version) +
                  ", rank 0 speaks " + std::to_string(kVersion) + " (mixed binaries?)");
  } else if (request.world_size != static_cast<uint32_t>(world)) {
    status = Status::kWorldSizeMismatch;
    failure =
        Error(ErrorKind::kInvalidArgument, "bootstrap: " + who + " was started with world size " +
                                               std::to_string(request.world_size) +
                                               " but rank 0 with " + std::to_string(world));
  } else if (request.rank == 0 || request.rank >= static_cast<uint32_t>(world)) {
    status = Status::kBadRank;
    failure =
        Error(ErrorKind::kInvalidArgument,
              "bootstrap: a peer claimed " + who + ", outside [1, " + std::to_string(world) + ")");
  } else {
    std::lock_guard lock(mutex);
    if (served[request.rank]) {
      status = Status::kDuplicateRank;
      failure =
          Error(ErrorKind::kInvalidArgument, "bootstrap: two processes were started as " + who);
    }
  }

  uint8_t reply[16 + kUniqueIdBytes];
  uint32_t reply_words[4] = {kMagic, kVersion, static_cast<uint32_t>(status),
                             static_cast<uint32_t>(world)};
  PutWords(reply_words, reply);
  std::copy(id.begin(), id.end(), reply + 16);
  size_t reply_size = status == Status::kOk ? sizeof(reply) : 16;
  bool sent = net::SendAll(peer, reply, reply_size, deadline, &io_error);
  if (failure) return failure;
  if (!sent) {
    // The rank retries; it is marked served only once the id went out.
    spdlog::warn("bootstrap: sending the id to {} failed: {}", who, io_error);
    return std::nullopt;
  }
  std::lock_guard lock(mutex);
  served[request.rank] = true;
  return std::nullopt;
}

void BootstrapServer::State::Serve() {
  const auto deadline = Clock::now() + options.timeout;
  std::optional<Error> failure;
  while (true) {
    {
      std::lock_guard lock(mutex);
      if (stop || Missing() == 0) break;
    }
    auto now = Clock::now();
    if (now >= deadline) {
      std::string missing;
      std::lock_guard lock(mutex);
      for (int r = 1; r < options.world_size; ++r) {
        if (!served[r]) missing += (missing.empty() ? "" : ", ") + std::to_string(r);
      }
      failure = Error(ErrorKind::kUnavailable,
                      "bootstrap: rank(s) " + missing + " never connected to rank 0 at " +
                          Endpoint(options, port) + " within " + Seconds(options.timeout) +
                          "; check that every rank was started with the same MASTER_ADDR/"
                          "MASTER_PORT and that the port is reachable");
      break;
    }
    auto wait = std::min<Clock::duration>(deadline - now, std::chrono::milliseconds(100));
    net::Socket peer =
        net::Accept(listener, std::chrono::duration_cast<std::chrono::milliseconds>(wait));
    if (!peer.valid()) continue;
    failure = Handle(peer);
    if (failure) break;
  }
  listener = net::Socket();  // stop accepting: late ranks get "connection refused"
  std::lock_guard lock(mutex);
  error = std::move(failure);
  finished = true;
  finished_cv.notify_all();
}

BootstrapServer::BootstrapServer(const BootstrapOptions& options, const UniqueIdBlob& id)
    : state_(std::make_unique<State>()) {
  TG_CHECK(options.world_size >= 1, kInvalidArgument,
           "bootstrap: world size must be at least 1, got " + std::to_string(options.world_size));
  state_->options = options;
  state_->id = id;
  state_->served.assign(options.world_size, false);
  state_->listener = net::Listen(options.master_addr, options.master_port, &state_->port);
  spdlog::info("bootstrap: rank 0 serving the communicator id on {} for {} rank(s)",
               Endpoint(options, state_->port), options.world_size - 1);
  state_->thread = std::thread([state = state_.get()] { state->Serve(); });
}

BootstrapServer::~BootstrapServer() {
  {
    std::lock_guard lock(state_->mutex);
    state_->stop = true;
  }
  state_->thread.join();
}

uint16_t BootstrapServer::port() const { return state_->port; }

bool BootstrapServer::Failed() const {
  std::lock_guard lock(state_->mutex);
  return state_->finished && state_->error.has_value();
}

void BootstrapServer::Wait() {
  std::unique_lock lock(state_->mutex);
  state_->finished_cv.wait(lock, [&] { return state_->finished; });
  if (state_->error) throw *state_->error;
}

UniqueIdBlob FetchUniqueId(const BootstrapOptions& options, int rank) {
  TG_CHECK(rank >= 1 && rank < options.world_size, kInvalidArgument,
           "bootstrap: rank " + std::to_string(rank) + " cannot fetch an id in a world of " +
               std::to_string(options.world_size));
  const std::string endpoint = Endpoint(options, options.master_port);
  const std::string who = "rank " + std::to_string(rank);
  const auto deadline = Clock::now() + options.timeout;
  std::string last_error = "no attempt";
  auto backoff = std::chrono::milliseconds(50);

  while (Clock::now() < deadline) {
    auto attempt_deadline = std::min(deadline, Clock::now() + kExchangeTimeout);
    std::string error;
    net::Socket socket =
        net::Connect(options.master_addr, options.master_port, attempt_deadline, &error);
    if (socket.valid()) {
      uint8_t request[16];
      uint32_t words[4] = {kMagic, kVersion, static_cast<uint32_t>(options.world_size),
                           static_cast<uint32_t>(rank)};
      PutWords(words, request);
      uint8_t reply_bytes[16];
      if (net::SendAll(socket, request, sizeof(request), attempt_deadline, &error) &&
          net::RecvAll(socket, reply_bytes, sizeof(reply_bytes), attempt_deadline, &error)) {
        uint32_t reply_words[4];
        GetWords(reply_bytes, reply_words);
        Reply reply{reply_words[0], reply_words[1], reply_words[2], reply_words[3]};
        if (reply.magic != kMagic) {
          error = "the peer at " + endpoint + " is not a text-gen rank 0";
        } else {
          switch (static_cast<Status>(reply.status)) {
            case Status::kOk: {
              UniqueIdBlob id;
              if (net::RecvAll(socket, id.data(), id.size(), attempt_deadline, &error)) {
                return id;
              }
              break;
            }
            case Status::kWorldSizeMismatch:
              throw Error(ErrorKind::kInvalidArgument,
                          "bootstrap: " + who + " was started with world size " +
                              std::to_string(options.world_size) + " but rank 0 at " + endpoint +
                              " with " + std::to_string(reply.world_size));
            case Status::kVersionMismatch:
              throw Error(ErrorKind::kInvalidArgument,
                          "bootstrap: rank 0 at " + endpoint + " speaks protocol version " +
                              std::to_string(reply.version) + ", " + who + " speaks " +
                              std::to_string(kVersion) + " (mixed binaries?)");
            case Status::kBadRank:
            case Status::kDuplicateRank:
              throw Error(ErrorKind::kInvalidArgument,
                          "bootstrap: rank 0 at " + endpoint + " refused " + who +
                              (reply.status == static_cast<uint32_t>(Status::kDuplicateRank)
                                   ? ": another process already registered as this rank"
                                   : ": rank outside the world"));
            default:
              error = "unknown reply status " + std::to_string(reply.status);
          }
        }
      }
    }
    last_error = error;
    auto pause = std::min<Clock::duration>(backoff, deadline - Clock::now());
    if (pause > Clock::duration::zero()) std::this_thread::sleep_for(pause);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
  }
  throw Error(ErrorKind::kUnavailable,
              "bootstrap: " + who + ": rank 0 never answered at " + endpoint + " within " +
                  Seconds(options.timeout) + " (last error: " + last_error +
                  "); check that rank 0 is running and that every rank has the same "
                  "MASTER_ADDR/MASTER_PORT");
}

}  // namespace tg::parallel
