#include <cuda_runtime.h>

#include <cmath>

#include "kernels/device_utils.cuh"
#include "kernels/token_mask.h"

namespace tg::kernels {
namespace {

constexpr int kThreads = 256;

// One thread per (row, token): a plain elementwise pass, bandwidth-bound on the logits row.
__global__ void TokenMaskKernel(TokenMaskParams p) {
  const int row = blockIdx.y;
  const int token = blockIdx.x * kThreads + threadIdx.x;
  if (token >= p.vocab) return;
  const auto word =
      static_cast<uint32_t>(p.bitmask[static_cast<int64_t>(row) * p.words + token / 32]);
  if (((word >> (token % 32)) & 1u) == 0) {
    p.logits[static_cast<int64_t>(row) * p.vocab + token] = -INFINITY;
  }
}

}  // namespace

Status ApplyTokenMask(const TokenMaskParams& p, Stream stream) {
  if (p.rows < 0 || p.vocab <= 0 || p.words * 32 < p.vocab) return Status::kInvalidArgument;
  if (p.rows == 0) return Status::kOk;
  if (!p.logits || !p.bitmask) return Status::kInvalidArgument;
  const dim3 grid((p.vocab + kThreads - 1) / kThreads, p.rows);
  TokenMaskKernel<<<grid, kThreads, 0, stream>>>(p);
  return detail::LaunchStatus();
}

}  // namespace tg::kernels
