// Host memory for the CPU backend's tensors, backed by transparent huge pages (2 MiB).
//
// Decode streams every weight byte once per step. With 4 KiB pages that is one TLB miss per
// 4 KiB of weights (about 24,000 per token on SmolLM2-135M Q4_1), and in a virtual machine each
// miss walks two page tables; the profile shows the kernels stalled on the first load of each
// new page. A weight tensor is often far smaller than 2 MiB, so malloc alone never gets huge
// pages for it: this arena packs tensors into 2 MiB-aligned chunks marked MADV_HUGEPAGE, which
// the kernel then backs with huge pages on first touch (THP "madvise" or "always").
//
// Bump allocation: a chunk hands out consecutive 64-byte-aligned ranges and is reused from its
// start once every range in it is freed (the per-step activations of a forward), or unmapped if
// it is no longer the chunk being filled. Small allocations go to malloc (they gain nothing).
// Thread-safe; each tensor's storage keeps the arena alive.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>

namespace tg::backend::cpu {

class HostArena : public std::enable_shared_from_this<HostArena> {
 public:
  // Allocations below this go to aligned_alloc.
  static constexpr size_t kMinArenaBytes = 64 << 10;
  static constexpr size_t kHugePage = 2 << 20;
  static constexpr size_t kChunkBytes = 32 << 20;

  static std::shared_ptr<HostArena> Create() { return std::shared_ptr<HostArena>(new HostArena()); }
  ~HostArena();
  HostArena(const HostArena&) = delete;
  HostArena& operator=(const HostArena&) = delete;

  // At least `bytes` (> 0), 64-byte aligned; freed when the returned pointer's last copy goes.
  // Throws Error(kResourceExhausted) when the memory cannot be had.
  std::shared_ptr<void> Allocate(size_t bytes);

  // Bytes in chunks currently mapped (for tests).
  size_t mapped_bytes() const;

 private:
  struct Chunk {
    char* base = nullptr;
    size_t size = 0;
    size_t used = 0;
    size_t live = 0;  // ranges handed out and not yet freed
  };
  HostArena() = default;
  Chunk* NewChunk(size_t min_bytes);
  void Release(Chunk* chunk);

  mutable std::mutex mutex_;
  Chunk* current_ = nullptr;  // the chunk being filled; null before the first arena allocation
  size_t mapped_bytes_ = 0;
};

}  // namespace tg::backend::cpu
