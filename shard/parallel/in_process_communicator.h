// N tensor-parallel ranks inside one process, one thread per rank, on the CPU backend.
//
// This is the reference the NCCL path is checked against: the slicing tests run N sliced copies
// of a layer on N threads and these collectives sum/gather their partial results exactly as NCCL
// would. The sum is taken in rank order (rank 0 + rank 1 + ...), so every rank gets bit-identical
// results and a run is deterministic.
//
//   InProcessGroup group(4);
//   std::vector<std::thread> ranks;
//   for (int r = 0; r < 4; ++r) ranks.emplace_back([&, r] { auto comm = group.Join(r); ... });
//
// A rank that never reaches a collective makes the waiting ranks throw
// tg::Error(kUnavailable) naming it after `timeout`; the group is then broken and every later
// collective throws at once.
#pragma once

#include <chrono>
#include <memory>

#include "shard/parallel/communicator.h"

namespace tg::parallel {

class InProcessGroup {
 public:
  explicit InProcessGroup(int world_size,
                          std::chrono::milliseconds timeout = std::chrono::seconds(60));
  ~InProcessGroup();
  InProcessGroup(const InProcessGroup&) = delete;
  InProcessGroup& operator=(const InProcessGroup&) = delete;

  int world_size() const;
  // The communicator of `rank`; the group must outlive it. CPU tensors only.
  std::unique_ptr<Communicator> Join(int rank);

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace tg::parallel
