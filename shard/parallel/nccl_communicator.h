// The NCCL communicator of one shard process (nccl_communicator.cc in CUDA builds; no_nccl.cc,
// which refuses, in CPU-only builds).
//
// Creation: rank 0 calls ncclGetUniqueId and serves it over TCP (bootstrap.h); the other ranks
// fetch it from MASTER_ADDR:MASTER_PORT. The communicator is created non-blocking
// (ncclCommInitRankConfig with blocking = 0) and its progress is polled with
// ncclCommGetAsyncError until a deadline; a rank that never joins turns into
// tg::Error(kUnavailable) and an ncclCommAbort, never a hang.
//
// Collectives are queued on the backend's CUDA stream, so they order with the model's ops and
// are captured into CUDA graphs like any kernel. A watchdog thread aborts the communicator when a
// collective stays incomplete past `collective_timeout` (a peer died or diverged): the stuck
// kernels then exit, the backend's next synchronisation returns, and every later collective
// throws tg::Error(kUnavailable) with the reason.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "shard/parallel/communicator.h"

namespace tg::parallel {

struct NcclOptions {
  int rank = 0;
  int world_size = 1;
  std::string master_addr = "127.0.0.1";
  uint16_t master_port = 29500;
  int device_id = 0;
  // The cudaStream_t the backend queues its ops on (nullptr: the legacy default stream).
  void* stream = nullptr;
  // Bootstrap plus communicator creation (all ranks must start within this window).
  std::chrono::milliseconds init_timeout{std::chrono::minutes(5)};
  // How long one collective may stay incomplete before the communicator is aborted.
  std::chrono::milliseconds collective_timeout{std::chrono::minutes(10)};
};

// Blocks until all ranks have joined. Throws tg::Error (kUnavailable for timeouts and NCCL
// failures, kInvalidArgument for a world-size mismatch between ranks).
std::unique_ptr<Communicator> MakeNcclCommunicator(const NcclOptions& options);

}  // namespace tg::parallel
