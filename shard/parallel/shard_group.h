// The tensor-parallel group of one text-gen-shard process: validates the rank flags, forms the
// group and creates the communicator the model is built with.
//
// world_size 1: a single-rank communicator, nothing else.
// world_size > 1: rank 0 serves the group's rendezvous store on MASTER_ADDR:MASTER_PORT
// (tcp_store.h) and every rank joins it; then
// - the CPU backend: Gloo over TCP (gloo_communicator.h), rendezvous through the store;
// - the CUDA backend: NCCL on the backend's native stream (Backend::NativeStream), whose id rank
//   0 serves on MASTER_PORT + 1 (bootstrap.h).
// After the weights are loaded, ExchangeUrls() tells rank 0 where every rank serves gRPC (its
// unix socket, or a TCP address on other hosts), for the router's ServiceDiscovery; from then
// on the store connections watch that every rank is alive (Failure()).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "shard/backend/backend.h"
#include "shard/parallel/communicator.h"

namespace tg::parallel {

struct ShardGroupOptions {
  int rank = 0;
  int world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  int device_id = 0;
  // Bootstrap and NCCL init: every rank must have started within this window.
  std::chrono::milliseconds init_timeout{std::chrono::minutes(5)};
  // How long one collective may stay incomplete before the group is declared failed. Short, so
  // that when one rank fails a call the others return an error instead of blocking for long.
  std::chrono::milliseconds collective_timeout{std::chrono::seconds(30)};
};

// Throws tg::Error(kInvalidArgument) naming the bad flag: world_size >= 1, 0 <= rank <
// world_size, master_port in 1..65534 (MASTER_PORT + 1 carries the NCCL id), a master address when
// world_size > 1, positive timeouts.
void ValidateShardGroupOptions(const ShardGroupOptions& options);

// "unix://PREFIX-<rank>" for every rank in order: what rank 0's ServiceDiscovery answers.
std::vector<std::string> RankSocketUrls(const std::string& uds_prefix, int world_size);

class TcpStoreServer;
class TcpStoreClient;

class ShardGroup {
 public:
  // Validates, then blocks until every rank has joined (world_size > 1). Throws
  // tg::Error(kUnsupported) for world_size > 1 on a GPU build without NCCL, and
  // tg::Error(kUnavailable) when the group cannot be formed within init_timeout.
  ShardGroup(const ShardGroupOptions& options, backend::Backend& backend);
  ~ShardGroup();
  ShardGroup(const ShardGroup&) = delete;
  ShardGroup& operator=(const ShardGroup&) = delete;

  Communicator& communicator() { return *communicator_; }
  // The address of this host that the other ranks reach it on ("" with world_size 1).
  const std::string& local_address() const { return local_address_; }
  // Every rank calls this once with the URL it serves gRPC on; returns every rank's URL in rank
  // order (world_size 1: {own_url}). Starts the liveness watch.
  std::vector<std::string> ExchangeUrls(const std::string& own_url);
  // Why the group failed (the communicator failed, a rank left, rank 0 is gone), or "".
  std::string Failure();

 private:
  ShardGroupOptions options_;
  std::unique_ptr<TcpStoreServer> store_server_;  // rank 0 only
  std::unique_ptr<TcpStoreClient> store_;
  std::unique_ptr<Communicator> communicator_;
  std::string local_address_;
};

// Makes `device_id` the calling thread's current CUDA device. The CUDA runtime keeps the current
// device per thread and kernels may only be launched into streams of the current device, so
// every thread that runs a rank's ops (the gRPC handler threads) must call this when the rank's
// GPU is not device 0. No-op in CPU-only builds; throws tg::Error. Defined with the NCCL
// communicator (nccl_communicator.cc, or no_nccl.cc in CPU-only builds).
void BindThreadToDevice(int device_id);

// The NCCL library version ("2.28.3") in CUDA builds, else "".
std::string NcclVersion();

}  // namespace tg::parallel
