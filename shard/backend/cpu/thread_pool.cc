#include "shard/backend/cpu/thread_pool.h"

#include <algorithm>

namespace tg::backend::cpu {
namespace {

// About 100 microseconds: longer than the gap between two ops of a decode step, much shorter
// than the time between steps.
constexpr int kSpinIterations = 4000;

inline void CpuRelax() {
#if defined(__x86_64__)
  __builtin_ia32_pause();
#endif
}

// Waits until `value` differs from `old`: spin first, then sleep on the atomic.
template <typename T>
T WaitChange(const std::atomic<T>& value, T old) {
  for (int i = 0; i < kSpinIterations; ++i) {
    const T now = value.load(std::memory_order_acquire);
    if (now != old) return now;
    CpuRelax();
  }
  value.wait(old, std::memory_order_acquire);
  return value.load(std::memory_order_acquire);
}

}  // namespace

ThreadPool::ThreadPool(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { WorkerLoop(i); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  generation_.notify_all();
  for (std::thread& worker : workers_) worker.join();
}

void ThreadPool::RunChunk(int index) {
  if (index >= task_chunks_) return;
  const int64_t begin = task_n_ * index / task_chunks_;
  const int64_t end = task_n_ * (index + 1) / task_chunks_;
  if (begin < end) (*task_)(begin, end);
}

void ThreadPool::WorkerLoop(int index) {
  uint64_t seen = 0;
  while (true) {
    seen = WaitChange(generation_, seen);
    if (stop_.load(std::memory_order_acquire)) return;
    RunChunk(index);
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) pending_.notify_one();
  }
}

void ThreadPool::ParallelFor(int64_t n, int64_t grain,
                             const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  const int64_t max_chunks = std::max<int64_t>(1, n / std::max<int64_t>(1, grain));
  const int chunks = static_cast<int>(std::min<int64_t>(size(), max_chunks));
  if (chunks == 1 || workers_.empty()) {
    fn(0, n);
    return;
  }
  task_ = &fn;
  task_n_ = n;
  task_chunks_ = chunks;
  pending_.store(static_cast<int>(workers_.size()), std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  generation_.notify_all();
  RunChunk(0);
  int left = pending_.load(std::memory_order_acquire);
  while (left != 0) left = WaitChange(pending_, left);
  task_ = nullptr;
}

}  // namespace tg::backend::cpu
