// A small persistent thread pool for the CPU backend's data-parallel loops.
//
// Decode runs a few hundred parallel loops per token, each a few microseconds long, so waking
// workers must be cheap: workers spin briefly on a generation counter before sleeping on it
// (std::atomic wait/notify). The calling thread runs the first chunk itself. One ParallelFor at a
// time (the engine serialises forwards); nesting is not supported.
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
  // Splits [0, n) into size() contiguous chunks of at least `grain` items and calls
  // fn(begin, end) on each, in parallel; returns when all are done.
  void ParallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

 private:
  void WorkerLoop(int index);
  void RunChunk(int index);

  std::vector<std::thread> workers_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  const std::function<void(int64_t, int64_t)>* task_ = nullptr;
  int64_t task_n_ = 0;
  int task_chunks_ = 0;
};

}  // namespace tg::backend::cpu
