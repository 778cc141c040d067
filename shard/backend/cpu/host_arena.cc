#include "shard/backend/cpu/host_arena.h"

#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "common/error.h"

namespace tg::backend::cpu {
namespace {

constexpr size_t kAlignment = 64;

size_t RoundUp(size_t n, size_t to) { return (n + to - 1) / to * to; }

[[noreturn]] void OutOfMemory(size_t bytes) {
  throw Error(ErrorKind::kResourceExhausted,
              "cannot allocate " + std::to_string(bytes) + " bytes of host memory");
}

}  // namespace

HostArena::~HostArena() {
  // Every range has been freed (each holds the arena), so only the chunk being filled is left.
  if (current_ != nullptr) {
    ::munmap(current_->base, current_->size);
    delete current_;
  }
}

HostArena::Chunk* HostArena::NewChunk(size_t min_bytes) {
  const size_t size = RoundUp(min_bytes, kHugePage);
  // Map one huge page more than needed and trim, so the chunk starts on a 2 MiB boundary (a
  // huge page backs only an aligned 2 MiB range).
  void* raw = ::mmap(nullptr, size + kHugePage, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED) OutOfMemory(min_bytes);
  const auto start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = RoundUp(start, kHugePage);
  if (aligned > start) ::munmap(raw, aligned - start);
  const uintptr_t end = start + size + kHugePage;
  if (end > aligned + size) ::munmap(reinterpret_cast<void*>(aligned + size), end - aligned - size);
  // Advice only: without THP the chunk still works, on 4 KiB pages.
  ::madvise(reinterpret_cast<void*>(aligned), size, MADV_HUGEPAGE);
  mapped_bytes_ += size;
  return new Chunk{reinterpret_cast<char*>(aligned), size, 0, 0};
}

std::shared_ptr<void> HostArena::Allocate(size_t bytes) {
  bytes = RoundUp(std::max<size_t>(bytes, 1), kAlignment);
  if (bytes < kMinArenaBytes) {
    void* data = std::aligned_alloc(kAlignment, bytes);
    if (data == nullptr) OutOfMemory(bytes);
    return std::shared_ptr<void>(data, [](void* p) { std::free(p); });
  }
  std::lock_guard lock(mutex_);
  Chunk* chunk = nullptr;
  if (bytes > kChunkBytes) {
    chunk = NewChunk(bytes);  // a chunk of its own, never filled further
  } else {
    if (current_ == nullptr || current_->used + bytes > current_->size) {
      Chunk* full = current_;
      current_ = NewChunk(kChunkBytes);
      // The full chunk goes once its last range does; one with none left goes now.
      if (full != nullptr && full->live == 0) {
        ::munmap(full->base, full->size);
        mapped_bytes_ -= full->size;
        delete full;
      }
    }
    chunk = current_;
  }
  char* data = chunk->base + chunk->used;
  chunk->used += bytes;
  ++chunk->live;
  return std::shared_ptr<void>(
      data, [arena = shared_from_this(), chunk](void*) { arena->Release(chunk); });
}

void HostArena::Release(Chunk* chunk) {
  std::lock_guard lock(mutex_);
  if (--chunk->live > 0) return;
  if (chunk == current_) {
    chunk->used = 0;  // empty again: refill it from the start (its pages stay mapped)
    return;
  }
  ::munmap(chunk->base, chunk->size);
  mapped_bytes_ -= chunk->size;
  delete chunk;
}

size_t HostArena::mapped_bytes() const {
  std::lock_guard lock(mutex_);
  return mapped_bytes_;
}

}  // namespace tg::backend::cpu
