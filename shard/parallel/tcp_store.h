// The rendezvous store of a tensor-parallel group: a small key-value store that rank 0 serves on
// MASTER_ADDR:MASTER_PORT over TCP, and that every rank (rank 0 included) reaches through one
// client connection. It carries what the ranks must learn about each other before and after
// they connect: the Gloo transport addresses (gloo_communicator.cc) and the gRPC address each
// rank serves on (the router's ServiceDiscovery across hosts).
//
// The client connection also tells the group when a member dies. Each client says who it is
// (rank, world size) first and says goodbye when it is destroyed; a connection that ends without
// the goodbye (a crash, kill -9, a host gone) fails the server ("rank 2 left without a
// goodbye"), and a client whose server goes away fails too. text-gen-shard polls these failures
// and exits, so one dead rank brings the whole group down on every host.
//
// Wire format (integers 32-bit little-endian): request = op, key length, value length, argument,
// key, value; reply = status, value length, value. Ops: hello (argument: rank; value: world
// size), set, get (argument: milliseconds to wait for the key), bye.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tg::parallel {

using StoreBytes = std::vector<uint8_t>;

class TcpStoreServer {
 public:
  // Binds and listens at once (a busy port fails here, with tg::Error(kUnavailable) naming it);
  // port 0 takes any free port (tests). Serves from background threads until destroyed.
  TcpStoreServer(const std::string& host, uint16_t port, int world_size);
  ~TcpStoreServer();
  TcpStoreServer(const TcpStoreServer&) = delete;
  TcpStoreServer& operator=(const TcpStoreServer&) = delete;

  uint16_t port() const;
  // "" while every client that said hello is connected or left with a goodbye; else why not.
  // Also set when a client announces another world size or a rank already taken.
  std::string Failure() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

class TcpStoreClient {
 public:
  // Connects (retrying while rank 0 is not up, until `timeout`) and says hello. Throws
  // tg::Error: kUnavailable when the server never answered, naming host:port and the last
  // error; kInvalidArgument when the server refused this rank (world size differs, rank taken).
  TcpStoreClient(const std::string& host, uint16_t port, int rank, int world_size,
                 std::chrono::milliseconds timeout);
  ~TcpStoreClient();  // says goodbye
  TcpStoreClient(const TcpStoreClient&) = delete;
  TcpStoreClient& operator=(const TcpStoreClient&) = delete;

  void Set(const std::string& key, const StoreBytes& value);
  // Waits up to `timeout` for the key to be set by any rank. Throws tg::Error(kUnavailable) on
  // timeout (naming the key) or a broken connection.
  StoreBytes Get(const std::string& key, std::chrono::milliseconds timeout);

  // This side's address of the connection to rank 0: the interface other hosts reach us on.
  const std::string& local_address() const { return local_address_; }

  // From now on the connection only watches the server (a background thread); Set/Get throw.
  void StartWatching();
  // "" while the server is reachable (or before StartWatching), else why not.
  std::string Failure() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
  std::string local_address_;
};

}  // namespace tg::parallel
