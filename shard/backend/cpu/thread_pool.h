// A small persistent thread pool for the CPU backend's data-parallel loops.
//
// Decode runs a few hundred parallel loops per token, each a few microseconds long, on machines
// that are often shared with other busy processes. So:
// - work is split into chunks that threads claim dynamically from an atomic counter; the caller
//   claims chunks too, and waits only for chunks another thread has actually started. A worker
//   that the OS has not scheduled yet simply finds no work left: it never stalls the loop.
// - workers spin briefly on a generation counter before sleeping on it (std::atomic wait), so
//   the next op of a forward finds them awake;
// - Park() sends them to sleep at once when no op follows soon (a forward is over): on a
//   machine with few cores, a worker spinning there would hold a core that the gRPC, router and
//   HTTP threads need to hand the token on and bring the next step.
// One ParallelFor at a time (the engine serialises forwards); nesting is not supported.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

namespace tg::backend::cpu {

class ThreadPool {
 public:
  // `threads` counts the caller; 0 = hardware concurrency.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }
  // Calls fn(begin, end) on disjoint chunks covering [0, n), each of at least `grain` items
  // (except the last), possibly in parallel; returns when all are done.
  void ParallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);
  // Workers stop spinning and sleep until the next ParallelFor.
  void Park() { parked_.store(true, std::memory_order_relaxed); }

 private:
  void WorkerLoop();
  // Claims and runs chunks of task `task_id` until none are left.
  void RunChunks(uint32_t task_id);

  std::vector<std::thread> workers_;
  std::atomic<uint32_t> generation_{0};  // id of the latest task; workers wake on change
  std::atomic<uint64_t> state_{0};       // (task id << 32) | next chunk to claim
  std::atomic<int64_t> done_{0};         // chunks of the current task finished
  std::atomic<int64_t> num_chunks_{0}, chunk_size_{0}, n_{0};
  std::atomic<const std::function<void(int64_t, int64_t)>*> task_{nullptr};
  std::atomic<bool> stop_{false};
  std::atomic<bool> parked_{false};
};

}  // namespace tg::backend::cpu
