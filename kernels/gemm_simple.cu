// A plain tiled GEMM for shapes cuBLASLt declines (no algorithm for odd leading dimensions):
// y[m, n] = x[m, k] · w[n, k]^T (+ bias) (+ y), float32 accumulation, float32 output.
#include <algorithm>

#include "kernels/device_utils.cuh"
#include "kernels/gemm.h"

namespace tg::kernels {
namespace {

constexpr int kTile = 16;

template <typename T>
__global__ void SimpleGemmKernel(GemmParams p) {
  __shared__ float xs[kTile][kTile + 1];
  __shared__ float ws[kTile][kTile + 1];
  const int row = blockIdx.y * kTile + threadIdx.y;  // m
  const int col = blockIdx.x * kTile + threadIdx.x;  // n
  const T* x = static_cast<const T*>(p.x);
  const T* w = static_cast<const T*>(p.w);
  float acc = 0.f;
  for (int k0 = 0; k0 < p.k; k0 += kTile) {
    const int kx = k0 + threadIdx.x;
    const int wrow = blockIdx.x * kTile + threadIdx.y;
    xs[threadIdx.y][threadIdx.x] =
        row < p.m && kx < p.k ? detail::ToFloat(x[static_cast<size_t>(row) * p.k + kx]) : 0.f;
    ws[threadIdx.y][threadIdx.x] =
        wrow < p.n && kx < p.k ? detail::ToFloat(w[static_cast<size_t>(wrow) * p.k + kx]) : 0.f;
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kTile; ++kk) acc += xs[threadIdx.y][kk] * ws[threadIdx.x][kk];
    __syncthreads();
  }
  if (row >= p.m || col >= p.n) return;
  float* y = static_cast<float*>(p.y) + static_cast<size_t>(row) * p.n + col;
  if (p.bias) acc += static_cast<const float*>(p.bias)[col];
  *y = p.accumulate ? *y + acc : acc;
}

template <typename T>
__global__ void AddBiasKernel(float* y, const float* bias, int m, int n) {
  const size_t total = static_cast<size_t>(m) * n;
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    y[i] += bias[i % n];
  }
}

}  // namespace

Status AddBias(float* y, const float* bias, int m, int n, Stream stream) {
  if (m < 0 || n <= 0) return Status::kInvalidArgument;
  if (m == 0) return Status::kOk;
  if (!y || !bias) return Status::kInvalidArgument;
  const size_t total = static_cast<size_t>(m) * n;
  const int blocks = static_cast<int>(std::min<size_t>((total + 255) / 256, 65536));
  AddBiasKernel<float><<<blocks, 256, 0, stream>>>(y, bias, m, n);
  return detail::LaunchStatus();
}

Status SimpleGemm(const GemmParams& p, Stream stream) {
  if (p.m < 0 || p.n <= 0 || p.k <= 0) return Status::kInvalidArgument;
  if (p.m == 0) return Status::kOk;
  if (!p.x || !p.w || !p.y) return Status::kInvalidArgument;
  if (p.out_dtype != DType::kFloat32) return Status::kUnsupported;
  const dim3 grid((p.n + kTile - 1) / kTile, (p.m + kTile - 1) / kTile);
  if (grid.y > 65535) return Status::kInvalidArgument;
  return DispatchDType(p.dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    SimpleGemmKernel<T><<<grid, dim3(kTile, kTile), 0, stream>>>(p);
    return detail::LaunchStatus();
  });
}

}  // namespace tg::kernels
