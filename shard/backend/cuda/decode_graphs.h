// CUDA graphs of decode forwards for the CUDA backend (Backend::BeginGraph / EndGraph).
//
// Capture: the model's calls of one forward are recorded on the backend's stream. Allocate
// gets memory that belongs to the graph (stable pointers, kept until the backend goes), and
// every CopyFromHost becomes a captured copy from one shared pinned staging buffer, so a replay
// only writes the new inputs there and launches the graph: one launch per decode step instead
// of hundreds. Replay: the model issues the same calls again; Allocate hands back the recorded
// tensors in order, CopyFromHost fills the staging buffer, the ops are skipped (the backend asks
// Skipping()), and End launches the graph. Graphs replay one at a time (the staging buffer is
// shared), which the engine's synchronous steps guarantee; Begin also waits for the last launch.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "shard/backend/tensor.h"

namespace tg::backend::cuda {

class DecodeGraphs {
 public:
  DecodeGraphs(cudaStream_t stream, size_t staging_bytes);
  ~DecodeGraphs();
  DecodeGraphs(const DecodeGraphs&) = delete;
  DecodeGraphs& operator=(const DecodeGraphs&) = delete;

  bool capturing() const { return mode_ == Mode::kCapture; }
  bool replaying() const { return mode_ == Mode::kReplay; }
  // Ops must not be queued (replay: the graph runs them).
  bool Skipping() const { return mode_ == Mode::kReplay; }
  bool Has(int key) const;

  // Starts a capture of `key` (replacing an older one). Throws tg::Error on CUDA failures.
  void BeginCapture(int key);
  // False when `key` has no graph.
  bool BeginReplay(int key);
  // Capture: instantiates (throws kInternal on failure). Replay: launches when ok.
  void End(bool ok);

  // While capturing or replaying.
  Tensor Allocate(DType dtype, std::vector<int64_t> shape);
  // While capturing: device memory that the graph being recorded owns for as long as it exists
  // (an op's scratch). Never handed out again, so no later allocation can overlap what a replay
  // writes; replays skip the ops, so these are not replayed in order like Allocate.
  void* AllocateOwned(size_t bytes);
  void CopyFromHost(const void* src, const Tensor& dst);

  // Device bytes owned by the recorded graphs.
  uint64_t device_bytes() const { return device_bytes_; }

 private:
  enum class Mode { kNone, kCapture, kReplay };
  struct Copy {
    size_t offset = 0;  // in the staging buffer
    size_t bytes = 0;
    void* dst = nullptr;
  };
  struct Graph {
    cudaGraphExec_t exec = nullptr;
    std::vector<Tensor> tensors;               // in Allocate order
    std::vector<std::shared_ptr<void>> owned;  // AllocateOwned memory
    std::vector<Copy> copies;                  // in CopyFromHost order
  };

  void Discard(Graph& graph);

  cudaStream_t stream_;
  char* staging_ = nullptr;  // pinned
  size_t staging_bytes_ = 0;
  cudaEvent_t last_launch_ = nullptr;
  std::map<int, Graph> graphs_;
  Mode mode_ = Mode::kNone;
  int key_ = 0;
  Graph recording_;
  std::shared_ptr<void> DeviceMalloc(size_t bytes);
  size_t next_tensor_ = 0, next_copy_ = 0, staging_used_ = 0;
  uint64_t device_bytes_ = 0;
};

}  // namespace tg::backend::cuda
