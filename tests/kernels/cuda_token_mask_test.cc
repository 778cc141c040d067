// Constrained decoding on the device: CudaBackend::Sample with allowed-token masks (the
// ApplyTokenMask kernel, then the device sampler) against the CPU reference (SampleRow's step 0),
// for greedy and seeded sampling, with masked and free rows sharing one batch. Skips without a GPU.
#include <gtest/gtest.h>

#include "shard/backend/cuda/cuda_backend.h"
#include "tests/kernels/op_compare.h"

namespace tg::backend {
namespace {

using testing::RandomVector;
using testing::Upload;

// Allows `keep` pseudo-random tokens of the vocabulary and `forced` (keep 0: `forced` alone).
std::vector<int32_t> SparseMask(int vocab, int keep, uint32_t salt, int forced) {
  std::vector<int32_t> mask((vocab + 31) / 32, 0);
  auto allow = [&](int t) { mask[t / 32] |= static_cast<int32_t>(1u << (t % 32)); };
  for (int i = 0; i < keep; ++i) allow(static_cast<int>((i * 2654435761u + salt) % vocab));
  allow(forced);
  return mask;
}

TEST(CudaTokenMaskTest, MaskedRowsMatchReference) {
  if (CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  auto cpu = MakeCpuBackend({});
  auto gpu = MakeCudaBackend({.device = DeviceKind::kCuda});
  for (int vocab : {1000, 49152, 151936}) {
    const int rows = 6;
    const auto logits = RandomVector(static_cast<size_t>(rows) * vocab, 7 + vocab, 2.5f);
    std::vector<std::vector<int32_t>> masks;
    for (int r = 0; r < rows; ++r)
      masks.push_back(SparseMask(vocab, r == 4 ? 0 : 17 * r + 3, r, 5));
    std::vector<SampleRequest> requests(rows);
    for (int r = 0; r < rows; ++r) {
      requests[r].params.do_sample = r % 2 == 1;
      requests[r].params.seed = 100 + r;
      requests[r].params.top_k = r == 3 ? 50 : 0;
      requests[r].step = 3;
      requests[r].top_n = 2;
      if (r != 2) requests[r].allowed = masks[r];  // row 2 is free, in the same batch
    }
    const auto ref = cpu->Sample(Upload(*cpu, DType::kF32, {rows, vocab}, logits), requests);
    const auto got = gpu->Sample(Upload(*gpu, DType::kF32, {rows, vocab}, logits), requests);
    ASSERT_EQ(got.size(), ref.size());
    for (int r = 0; r < rows; ++r) {
      SCOPED_TRACE("vocab=" + std::to_string(vocab) + " row=" + std::to_string(r));
      EXPECT_EQ(got[r].token, ref[r].token);
      EXPECT_NEAR(got[r].logprob, ref[r].logprob, 1e-3f);
      if (r != 2) {
        const int t = ref[r].token;
        EXPECT_TRUE((static_cast<uint32_t>(masks[r][t / 32]) >> (t % 32)) & 1u);
      }
    }
    EXPECT_EQ(ref[4].token, 5);  // a single allowed token is forced
  }
}

}  // namespace
}  // namespace tg::backend
