#include "shard/backend/cpu/thread_pool.h"

#include <algorithm>

namespace tg::backend::cpu {
namespace {

// About 100 microseconds: longer than the gap between two ops of a decode step, much shorter
// than the time between steps.
constexpr int kSpinIterations = 4000;
// Chunks per thread: enough to balance uneven progress, few enough to keep claims cheap.
constexpr int64_t kChunksPerThread = 4;

inline void CpuRelax() {
#if defined(__x86_64__)
  __builtin_ia32_pause();
#endif
}

}  // namespace

ThreadPool::ThreadPool(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  generation_.notify_all();
  for (std::thread& worker : workers_) worker.join();
}

void ThreadPool::RunChunks(uint32_t task_id) {
  while (true) {
    uint64_t state = state_.load(std::memory_order_acquire);
    if (static_cast<uint32_t>(state >> 32) != task_id) return;
    const int64_t chunk = static_cast<int64_t>(state & 0xffffffffu);
    if (chunk >= num_chunks_.load(std::memory_order_relaxed)) return;
    if (!state_.compare_exchange_weak(state, state + 1, std::memory_order_acq_rel)) continue;
    // The claim succeeded, so the task's fields are those of task_id until this chunk is done.
    const int64_t size = chunk_size_.load(std::memory_order_relaxed);
    const int64_t begin = chunk * size;
    const int64_t end = std::min(n_.load(std::memory_order_relaxed), begin + size);
    (*task_.load(std::memory_order_relaxed))(begin, end);
    done_.fetch_add(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::WorkerLoop() {
  uint32_t seen = 0;
  while (true) {
    uint32_t now = generation_.load(std::memory_order_acquire);
    for (int i = 0; i < kSpinIterations && now == seen && !parked_.load(std::memory_order_relaxed);
         ++i) {
      CpuRelax();
      now = generation_.load(std::memory_order_acquire);
    }
    if (now == seen) {
      generation_.wait(seen, std::memory_order_acquire);
      now = generation_.load(std::memory_order_acquire);
    }
    seen = now;
    if (stop_.load(std::memory_order_acquire)) return;
    RunChunks(now);
  }
}

void ThreadPool::ParallelFor(int64_t n, int64_t grain,
                             const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  const int64_t max_chunks = std::max<int64_t>(1, n / grain);
  const int64_t chunks = std::min<int64_t>(max_chunks, size() * kChunksPerThread);
  if (chunks == 1 || workers_.empty()) {
    fn(0, n);
    return;
  }
  const uint32_t task_id = generation_.load(std::memory_order_relaxed) + 1;
  task_.store(&fn, std::memory_order_relaxed);
  n_.store(n, std::memory_order_relaxed);
  chunk_size_.store((n + chunks - 1) / chunks, std::memory_order_relaxed);
  num_chunks_.store((n + chunk_size_.load(std::memory_order_relaxed) - 1) /
                        chunk_size_.load(std::memory_order_relaxed),
                    std::memory_order_relaxed);
  done_.store(0, std::memory_order_relaxed);
  parked_.store(false, std::memory_order_relaxed);
  state_.store(static_cast<uint64_t>(task_id) << 32, std::memory_order_release);
  generation_.store(task_id, std::memory_order_release);
  generation_.notify_all();
  RunChunks(task_id);
  // Only chunks that a running thread claimed are left; wait for them.
  const int64_t total = num_chunks_.load(std::memory_order_relaxed);
  for (int spins = 0; done_.load(std::memory_order_acquire) < total; ++spins) {
    if (spins < kSpinIterations) {
      CpuRelax();
    } else {
      std::this_thread::yield();
    }
  }
}

}  // namespace tg::backend::cpu
