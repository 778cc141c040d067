// The tensor-parallel group of one text-gen-shard process: validates the rank flags, names every
// rank's socket, and creates the communicator the model is built with.
//
// world_size 1: a single-rank communicator (no bootstrap, no NCCL).
// world_size > 1: the CUDA backend and NCCL are required. Rank 0 serves the NCCL unique id on
// MASTER_ADDR:MASTER_PORT (bootstrap.h), the others fetch it; the communicator queues its
// collectives on the backend's native stream (Backend::NativeStream), so they are ordered with
// the model's ops. The CPU backend serves one rank only (the in-process group of
// in_process_communicator.h is threads of one process, for tests).
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
// world_size, master_port in 1..65535, a master address when world_size > 1, positive timeouts.
void ValidateShardGroupOptions(const ShardGroupOptions& options);

// "unix://PREFIX-<rank>" for every rank in order: what rank 0's ServiceDiscovery answers.
std::vector<std::string> RankSocketUrls(const std::string& uds_prefix, int world_size);

// Validates, then blocks until every rank has joined (world_size > 1). Throws
// tg::Error(kUnsupported) for world_size > 1 on a backend without a native stream (CPU) or in a
// build without NCCL, and tg::Error(kUnavailable) when the group cannot be formed in time.
std::unique_ptr<Communicator> MakeShardCommunicator(const ShardGroupOptions& options,
                                                    backend::Backend& backend);

// Makes `device_id` the calling thread's current CUDA device. The CUDA runtime keeps the current
// device per thread and kernels may only be launched into streams of the current device, so
// every thread that runs a rank's ops (the gRPC handler threads) must call this when the rank's
// GPU is not device 0. No-op in builds without the CUDA runtime; throws tg::Error(kInternal).
void BindThreadToDevice(int device_id);

// The NCCL library version ("2.28.3") when this build has the NCCL communicator, else "".
std::string NcclVersion();

}  // namespace tg::parallel
