// The CPU backend's communicator between shard processes: Gloo (PyTorch's CPU collective
// library, Debian's libgloo-dev) over its TCP transport. The ranks find each other through the
// group's rendezvous store (tcp_store.h): each publishes its Gloo address under "gloo/" and
// reads the others', then every pair holds one TCP connection.
//
// Collectives run on the calling thread and block until every rank has contributed; results are
// bit-identical on every rank (ring reduce-scatter then all-gather), so every rank samples the
// same tokens. A collective that fails (a peer died, collective_timeout passed) throws
// tg::Error(kUnavailable) and marks the communicator failed: Gloo pairs cannot be repaired, so
// Failure() stays set and text-gen-shard exits.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "shard/parallel/communicator.h"

namespace tg::parallel {

class TcpStoreClient;

struct GlooOptions {
  int rank = 0;
  int world_size = 1;
  // Where the ranks meet; must outlive the call only (the connections are made before return).
  TcpStoreClient* store = nullptr;
  // The address this rank's Gloo connections listen on: one the other ranks can reach (the
  // store connection's local address is the interface that routes to rank 0).
  std::string listen_address = "127.0.0.1";
  std::chrono::milliseconds init_timeout{std::chrono::minutes(5)};
  std::chrono::milliseconds collective_timeout{std::chrono::seconds(30)};
};

// Blocks until every rank has connected; throws tg::Error(kUnavailable) when the group cannot
// be formed within init_timeout.
std::unique_ptr<Communicator> MakeGlooCommunicator(const GlooOptions& options);

}  // namespace tg::parallel
