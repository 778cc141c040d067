#include "shard/parallel/tcp_store.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "common/error.h"
#include "shard/parallel/tcp_socket.h"

namespace tg::parallel {
namespace {

using net::Clock;
using std::chrono::milliseconds;

enum Op : uint32_t { kHello = 1, kSet = 2, kGet = 3, kBye = 4 };
enum Status : uint32_t { kOk = 0, kTimedOut = 1, kRefused = 2 };

// How often idle loops look at their stop flag, and how long one message may take to arrive
// once it started, so a silent peer cannot stall a thread.
constexpr milliseconds kPollInterval{100};
constexpr milliseconds kMessageTimeout{5000};
// Keys and values are addresses and ids: anything larger is not a rank talking.
constexpr uint32_t kMaxKeyBytes = 1 << 10;
constexpr uint32_t kMaxValueBytes = 1 << 20;

void PutWord(uint32_t word, uint8_t* out) {
  for (int b = 0; b < 4; ++b) out[b] = static_cast<uint8_t>(word >> (8 * b));
}
uint32_t GetWord(const uint8_t* in) {
  uint32_t word = 0;
  for (int b = 0; b < 4; ++b) word |= static_cast<uint32_t>(in[b]) << (8 * b);
  return word;
}

struct Message {
  uint32_t op_or_status = 0;
  uint32_t argument = 0;
  std::string key;
  StoreBytes value;
};

bool SendMessage(const net::Socket& socket, const Message& m, bool reply, std::string* error) {
  std::vector<uint8_t> bytes(reply ? 8 : 16);
  PutWord(m.op_or_status, bytes.data());
  if (reply) {
    PutWord(static_cast<uint32_t>(m.value.size()), bytes.data() + 4);
  } else {
    PutWord(static_cast<uint32_t>(m.key.size()), bytes.data() + 4);
    PutWord(static_cast<uint32_t>(m.value.size()), bytes.data() + 8);
    PutWord(m.argument, bytes.data() + 12);
    bytes.insert(bytes.end(), m.key.begin(), m.key.end());
  }
  bytes.insert(bytes.end(), m.value.begin(), m.value.end());
  return net::SendAll(socket, bytes.data(), bytes.size(), Clock::now() + kMessageTimeout, error);
}

// Reads a request (reply == false) or a reply; `deadline` bounds the whole message.
bool RecvMessage(const net::Socket& socket, bool reply, Clock::time_point deadline, Message* m,
                 std::string* error) {
  uint8_t header[16];
  const size_t header_size = reply ? 8 : 16;
  if (!net::RecvAll(socket, header, header_size, deadline, error)) return false;
  m->op_or_status = GetWord(header);
  const uint32_t key_size = reply ? 0 : GetWord(header + 4);
  const uint32_t value_size = GetWord(header + (reply ? 4 : 8));
  m->argument = reply ? 0 : GetWord(header + 12);
  if (key_size > kMaxKeyBytes || value_size > kMaxValueBytes) {
    *error = "oversized message (not a text-gen rank?)";
    return false;
  }
  m->key.resize(key_size);
  m->value.resize(value_size);
  return net::RecvAll(socket, m->key.data(), key_size, deadline, error) &&
         net::RecvAll(socket, m->value.data(), value_size, deadline, error);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Server

struct TcpStoreServer::State {
  int world_size = 1;
  net::Socket listener;
  uint16_t port = 0;
  std::atomic<bool> stop{false};
  std::thread acceptor;
  std::vector<std::thread> connections;  // touched by the acceptor thread and the destructor

  mutable std::mutex mutex;
  std::condition_variable changed;
  std::map<std::string, StoreBytes> values;
  std::set<int> ranks;  // ranks that said hello
  std::string failure;

  void Fail(const std::string& why) {
    std::lock_guard lock(mutex);
    if (failure.empty()) failure = why;
    spdlog::error("rendezvous store: {}", why);
  }
  void Accept();
  void Serve(net::Socket peer);
  // Answers one request; false when the connection should end.
  bool Answer(const net::Socket& peer, const Message& request, int* rank);
};

void TcpStoreServer::State::Accept() {
  while (!stop) {
    net::Socket peer = net::Accept(listener, kPollInterval);
    if (!peer.valid()) continue;
    connections.emplace_back([this, peer = std::move(peer)]() mutable { Serve(std::move(peer)); });
  }
}

void TcpStoreServer::State::Serve(net::Socket peer) {
  int rank = -1;  // unknown until hello
  while (!stop) {
    if (!net::WaitReadable(peer, kPollInterval)) continue;
    Message request;
    std::string error;
    if (!RecvMessage(peer, /*reply=*/false, Clock::now() + kMessageTimeout, &request, &error)) {
      // A rank that said hello and vanished without a goodbye has crashed or lost its host.
      if (rank >= 0 && !stop) {
        Fail("rank " + std::to_string(rank) + " left the group without a goodbye (" + error +
             "): it crashed, was killed, or its host is unreachable");
      }
      return;
    }
    if (!Answer(peer, request, &rank)) return;
  }
}

bool TcpStoreServer::State::Answer(const net::Socket& peer, const Message& request, int* rank) {
  Message reply;
  std::string error;
  switch (request.op_or_status) {
    case kHello: {
      const int claimed = static_cast<int>(request.argument);
      const std::string world(request.value.begin(), request.value.end());
      std::string refusal;
      {
        std::lock_guard lock(mutex);
        if (world != std::to_string(world_size)) {
          refusal = "rank " + std::to_string(claimed) + " was started with world size " + world +
                    " but rank 0 with " + std::to_string(world_size);
        } else if (claimed < 0 || claimed >= world_size) {
          refusal = "a peer claimed rank " + std::to_string(claimed) + ", outside 0.." +
                    std::to_string(world_size - 1);
        } else if (!ranks.insert(claimed).second) {
          refusal = "two processes were started as rank " + std::to_string(claimed);
        }
      }
      if (!refusal.empty()) {
        reply = {.op_or_status = kRefused, .value = StoreBytes(refusal.begin(), refusal.end())};
        SendMessage(peer, reply, /*reply=*/true, &error);
        Fail(refusal);
        return false;
      }
      *rank = claimed;
      break;
    }
    case kSet: {
      std::lock_guard lock(mutex);
      values[request.key] = request.value;
      changed.notify_all();
      break;
    }
    case kGet: {
      std::unique_lock lock(mutex);
      const auto deadline = Clock::now() + milliseconds(request.argument);
      const bool found =
          changed.wait_until(lock, deadline, [&] { return stop || values.count(request.key) > 0; });
      if (found && !stop) {
        reply.value = values[request.key];
      } else {
        reply.op_or_status = kTimedOut;
      }
      break;
    }
    case kBye:
      *rank = -1;  // an orderly exit: its closing connection is no failure
      return false;
    default:
      spdlog::warn("rendezvous store: dropped a connection that is not a text-gen rank");
      return false;
  }
  return SendMessage(peer, reply, /*reply=*/true, &error);
}

TcpStoreServer::TcpStoreServer(const std::string& host, uint16_t port, int world_size)
    : state_(std::make_shared<State>()) {
  state_->world_size = world_size;
  state_->listener = net::Listen(host, port, &state_->port);
  spdlog::info("rendezvous store: rank 0 serving {} rank(s) on {}:{}", world_size, host,
               state_->port);
  state_->acceptor = std::thread([state = state_.get()] { state->Accept(); });
}

TcpStoreServer::~TcpStoreServer() {
  state_->stop = true;
  {
    std::lock_guard lock(state_->mutex);
    state_->changed.notify_all();
  }
  state_->acceptor.join();  // no new connection threads after this
  for (std::thread& t : state_->connections) t.join();
}

uint16_t TcpStoreServer::port() const { return state_->port; }

std::string TcpStoreServer::Failure() const {
  std::lock_guard lock(state_->mutex);
  return state_->failure;
}

// ---------------------------------------------------------------------------------------------
// Client

struct TcpStoreClient::State {
  std::string endpoint;
  net::Socket socket;
  std::mutex request_mutex;  // one request at a time
  std::atomic<bool> watching{false};
  std::atomic<bool> stop{false};
  std::thread watcher;
  mutable std::mutex failure_mutex;
  std::string failure;

  Message Exchange(const Message& request, milliseconds reply_timeout) {
    TG_CHECK(!watching, kInternal, "rendezvous store: request after StartWatching()");
    std::lock_guard lock(request_mutex);
    std::string error;
    Message reply;
    if (!SendMessage(socket, request, /*reply=*/false, &error) ||
        !RecvMessage(socket, /*reply=*/true, Clock::now() + reply_timeout, &reply, &error)) {
      throw Error(ErrorKind::kUnavailable,
                  "rendezvous store at " + endpoint + ": " + error + " (is rank 0 still up?)");
    }
    return reply;
  }

  void Watch() {
    while (!stop) {
      if (!net::WaitReadable(socket, kPollInterval)) continue;
      uint8_t byte;
      std::string error;
      // The server never speaks unasked: readable means closed (or reset).
      if (!net::RecvAll(socket, &byte, 1, Clock::now(), &error) && !stop) {
        std::lock_guard lock(failure_mutex);
        failure = "rank 0's rendezvous store at " + endpoint + " closed the connection (" + error +
                  "): rank 0 has stopped or failed";
      }
      return;
    }
  }
};

TcpStoreClient::TcpStoreClient(const std::string& host, uint16_t port, int rank, int world_size,
                               milliseconds timeout)
    : state_(std::make_shared<State>()) {
  state_->endpoint = host + ":" + std::to_string(port);
  const auto deadline = Clock::now() + timeout;
  std::string last_error = "no attempt";
  const std::string world = std::to_string(world_size);
  while (true) {
    net::Socket socket = net::Connect(host, port, deadline, &last_error);
    if (socket.valid()) {
      Message reply;
      const Message hello{.op_or_status = kHello,
                          .argument = static_cast<uint32_t>(rank),
                          .value = StoreBytes(world.begin(), world.end())};
      if (SendMessage(socket, hello, /*reply=*/false, &last_error) &&
          RecvMessage(socket, /*reply=*/true, Clock::now() + kMessageTimeout, &reply,
                      &last_error)) {
        if (reply.op_or_status == kRefused) {
          throw Error(ErrorKind::kInvalidArgument,
                      "rank 0 (" + state_->endpoint + ") refused rank " + std::to_string(rank) +
                          ": " + std::string(reply.value.begin(), reply.value.end()));
        }
        state_->socket = std::move(socket);
        break;
      }
    }
    if (Clock::now() + kPollInterval >= deadline) {
      throw Error(ErrorKind::kUnavailable,
                  "rank " + std::to_string(rank) +
                      " could not reach rank 0's rendezvous store at " + state_->endpoint +
                      " within " + std::to_string(timeout.count() / 1000) +
                      " s (last error: " + last_error +
                      "); check --master-addr/--master-port and that rank 0 is running");
    }
    std::this_thread::sleep_for(kPollInterval);
  }
  local_address_ = net::LocalAddress(state_->socket);
}

TcpStoreClient::~TcpStoreClient() {
  state_->stop = true;
  if (state_->watcher.joinable()) state_->watcher.join();
  std::string error;
  SendMessage(state_->socket, {.op_or_status = kBye}, /*reply=*/false, &error);
}

void TcpStoreClient::Set(const std::string& key, const StoreBytes& value) {
  const Message reply =
      state_->Exchange({.op_or_status = kSet, .key = key, .value = value}, kMessageTimeout);
  TG_CHECK(reply.op_or_status == kOk, kUnavailable, "rendezvous store: set " + key + " failed");
}

StoreBytes TcpStoreClient::Get(const std::string& key, milliseconds timeout) {
  Message reply = state_->Exchange(
      {.op_or_status = kGet, .argument = static_cast<uint32_t>(timeout.count()), .key = key},
      timeout + kMessageTimeout);
  TG_CHECK(reply.op_or_status == kOk, kUnavailable,
           "rendezvous store at " + state_->endpoint + ": '" + key + "' was not set within " +
               std::to_string(timeout.count() / 1000) + " s (a rank did not start or failed)");
  return std::move(reply.value);
}

void TcpStoreClient::StartWatching() {
  if (state_->watching.exchange(true)) return;
  state_->watcher = std::thread([state = state_.get()] { state->Watch(); });
}

std::string TcpStoreClient::Failure() const {
  std::lock_guard lock(state_->failure_mutex);
  return state_->failure;
}

}  // namespace tg::parallel
