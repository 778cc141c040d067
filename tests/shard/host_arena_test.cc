// The CPU backend's huge-page arena (shard/backend/cpu/host_arena.h): alignment, packing of
// tensors into 2 MiB-aligned chunks, reuse of an emptied chunk, unmapping of full ones.
#include "shard/backend/cpu/host_arena.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

namespace tg::backend::cpu {
namespace {

uintptr_t Address(const std::shared_ptr<void>& p) { return reinterpret_cast<uintptr_t>(p.get()); }

TEST(HostArenaTest, PacksLargeTensorsIntoOneHugePageAlignedChunk) {
  auto arena = HostArena::Create();
  const size_t bytes = 200 << 10;  // a SmolLM2 q_proj in Q4_1
  std::shared_ptr<void> a = arena->Allocate(bytes);
  std::shared_ptr<void> b = arena->Allocate(bytes + 1);
  std::shared_ptr<void> c = arena->Allocate(bytes);
  EXPECT_EQ(Address(a) % HostArena::kHugePage, 0u);
  EXPECT_EQ(Address(b), Address(a) + bytes);
  EXPECT_EQ(Address(c), Address(b) + bytes + 64);  // 64-byte aligned
  EXPECT_EQ(arena->mapped_bytes(), HostArena::kChunkBytes);
  std::memset(a.get(), 1, bytes);
  std::memset(c.get(), 3, bytes);
  EXPECT_EQ(static_cast<unsigned char*>(a.get())[bytes - 1], 1);
}

TEST(HostArenaTest, SmallTensorsStayOnTheHeap) {
  auto arena = HostArena::Create();
  std::shared_ptr<void> small = arena->Allocate(100);
  std::shared_ptr<void> empty = arena->Allocate(0);
  EXPECT_NE(small.get(), nullptr);
  EXPECT_NE(empty.get(), nullptr);
  EXPECT_EQ(Address(small) % 64, 0u);
  EXPECT_EQ(arena->mapped_bytes(), 0u);
}

TEST(HostArenaTest, AnEmptiedChunkIsRefilledFromItsStart) {
  auto arena = HostArena::Create();
  uintptr_t first = 0;
  for (int step = 0; step < 3; ++step) {  // a forward's activations, step after step
    std::shared_ptr<void> x = arena->Allocate(1 << 20);
    std::shared_ptr<void> y = arena->Allocate(1 << 20);
    if (step == 0) first = Address(x);
    EXPECT_EQ(Address(x), first) << step;
  }
  EXPECT_EQ(arena->mapped_bytes(), HostArena::kChunkBytes);
}

TEST(HostArenaTest, FullAndOversizedChunksAreUnmappedWithTheirLastTensor) {
  auto arena = HostArena::Create();
  std::vector<std::shared_ptr<void>> filling;
  for (size_t used = 0; used + (4 << 20) <= HostArena::kChunkBytes; used += 4 << 20) {
    filling.push_back(arena->Allocate(4 << 20));
  }
  std::shared_ptr<void> next = arena->Allocate(4 << 20);  // does not fit: a second chunk
  EXPECT_EQ(arena->mapped_bytes(), 2 * HostArena::kChunkBytes);
  filling.clear();
  EXPECT_EQ(arena->mapped_bytes(), HostArena::kChunkBytes);

  std::shared_ptr<void> kv = arena->Allocate(HostArena::kChunkBytes + 1);  // its own chunk
  EXPECT_EQ(Address(kv) % HostArena::kHugePage, 0u);
  EXPECT_EQ(arena->mapped_bytes(), 2 * HostArena::kChunkBytes + HostArena::kHugePage);
  kv.reset();
  EXPECT_EQ(arena->mapped_bytes(), HostArena::kChunkBytes);
}

TEST(HostArenaTest, TensorsOutliveTheirArenaHandle) {
  auto arena = HostArena::Create();
  std::shared_ptr<void> weight = arena->Allocate(1 << 20);
  arena.reset();  // the backend goes; a tensor it made is still usable and freed later
  std::memset(weight.get(), 7, 1 << 20);
  weight.reset();
}

}  // namespace
}  // namespace tg::backend::cpu
