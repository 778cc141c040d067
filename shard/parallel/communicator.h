// The collectives a tensor-parallel model needs, behind one small interface.
//
// Implementations:
// - MakeSingleRankCommunicator(): world_size 1, every collective a no-op (the default shard).
// - InProcessGroup (in_process_communicator.h): N ranks as threads of one process on the CPU
//   backend; the slicing tests' reference.
// - MakeGlooCommunicator (gloo_communicator.h, when Gloo is installed): one CPU shard process
//   per rank over Gloo's TCP transport.
// - MakeNcclCommunicator (nccl_communicator.h, CUDA builds only): one NCCL communicator per
//   shard process, collectives queued on the backend's stream (so they order with the model's
//   ops and are captured inside CUDA graphs).
//
// Every rank must call the same collectives in the same order with the same shapes (SPMD); a
// rank that stops calling makes the others fail with tg::Error(kUnavailable) after the
// implementation's timeout instead of hanging.
#pragma once

#include <memory>
#include <string>

#include "shard/backend/tensor.h"

namespace tg::parallel {

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int world_size() const = 0;

  // In place: tensor = sum over ranks of each rank's tensor, element-wise, identical on every
  // rank afterwards. The row-parallel layers (o_proj, down_proj) and the vocab-parallel embedding
  // call this on their partial outputs. Float32 on every implementation; device backends may also
  // accept bf16/f16.
  virtual void AllReduceSum(backend::Tensor& tensor) = 0;

  // Vocab-parallel logits: every rank passes `local` [rows, shard_cols] (its vocabulary columns,
  // shard_cols equal on every rank); `out` [rows, total_cols] receives, on every rank, rank r's
  // columns at [r * shard_cols, min((r + 1) * shard_cols, total_cols)), where
  // (world_size - 1) * shard_cols < total_cols <= world_size * shard_cols. Columns of `local`
  // that fall past total_cols (the zero padding of the last vocabulary chunk) are dropped, so
  // `out` holds exactly the vocabulary. Float32. `out` must not alias `local`, except with
  // world_size 1 where passing the same tensor makes the call a no-op.
  virtual void AllGatherColumns(const backend::Tensor& local, backend::Tensor& out) = 0;

  // Call once per step after queuing work that contains collectives this object did not see
  // being queued (a CUDA graph replay): lets the NCCL watchdog time that work. Throws
  // tg::Error(kUnavailable) when the communicator has failed (a peer died, a collective timed
  // out), so an engine that calls it every step learns of the failure. No-op elsewhere.
  virtual void Fence() {}

  // Why the communicator failed, or "" while it works. Side-effect free and callable from any
  // thread (text-gen-shard polls it to exit when its group is gone). Never fails elsewhere.
  virtual std::string Failure() { return ""; }
};

std::unique_ptr<Communicator> MakeSingleRankCommunicator();

// Checks the shape contract of AllGatherColumns (throws tg::Error(kInvalidArgument)); shared by
// the implementations.
void CheckGatherColumnsShapes(const backend::Tensor& local, const backend::Tensor& out,
                              int world_size);

}  // namespace tg::parallel
