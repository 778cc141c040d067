// Skinny GEMMs for decode: y[m, n] = x[m, k] · w[n, k]^T (+ bias) (+ y) for small m, float32
// activations in and out. A decode step is bound by reading the weights, so both kernels read
// each weight element exactly once with 16-byte streaming loads and apply it to every row of x
// (x is tiny and stays in L1/L2).
//
// 16-bit weights use tensor cores. The GEMM is computed transposed, y^T = w · x^T, so the wide
// weight matrix is the mma A operand (16 output columns per tile) and the m activation rows
// are the 8-wide B operand; m up to 64 is up to 8 B tiles against one loaded A tile, which is
// what keeps the cost flat in m. float32 weights (the exact-comparison configuration) use CUDA
// cores, one warp per output column.
#include <algorithm>
#include <type_traits>

#include "kernels/dependent_launch.cuh"
#include "kernels/device_utils.cuh"
#include "kernels/gemm.h"

namespace tg::kernels {
namespace {

__host__ __device__ constexpr int CeilDiv(int a, int b) { return (a + b - 1) / b; }

// Weights are streamed once: keep them out of L1 so x stays there. volatile: the load must
// not be hoisted out of the bounds checks guarding it.
__device__ __forceinline__ uint4 LoadStreaming(const void* ptr) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(ptr));
  return v;
}

// silu(g) = g / (1 + exp(-g)). Every block evaluates it for its whole input, so the 16-bit path
// (whose input is rounded to bf16/f16 next) uses the fast exponential and division; large |g|
// still gives the right limits (0 and g). The float32 path keeps the exact formula of the
// SiluAndMul kernel, as it is compared with the CPU at float32 tolerance.
template <bool kFast>
__device__ __forceinline__ float Silu(float g) {
  if constexpr (kFast) {
    return __fdividef(g, 1.f + __expf(-g));
  } else {
    return g / (1.f + expf(-g));
  }
}

template <bool kFastSilu>
__device__ __forceinline__ void LoadInput8(const SkinnyGemmParams& p, const float* row, int k0,
                                           float out[8]) {
  const float4 a = *reinterpret_cast<const float4*>(row + k0);
  const float4 b = *reinterpret_cast<const float4*>(row + k0 + 4);
  out[0] = a.x, out[1] = a.y, out[2] = a.z, out[3] = a.w;
  out[4] = b.x, out[5] = b.y, out[6] = b.z, out[7] = b.w;
  if (p.silu_gated_input) {
    const float4 c = *reinterpret_cast<const float4*>(row + p.k + k0);
    const float4 d = *reinterpret_cast<const float4*>(row + p.k + k0 + 4);
    const float up[8] = {c.x, c.y, c.z, c.w, d.x, d.y, d.z, d.w};
#pragma unroll
    for (int e = 0; e < 8; ++e) out[e] = Silu<kFastSilu>(out[e]) * up[e];
  }
}

__device__ __forceinline__ size_t InputStride(const SkinnyGemmParams& p) {
  return p.silu_gated_input ? 2 * static_cast<size_t>(p.k) : p.k;
}

__device__ __forceinline__ const float* FloatRow(const SkinnyGemmParams& p, int m) {
  return static_cast<const float*>(p.x) + m * InputStride(p);
}

__device__ __forceinline__ void StoreOutput(const SkinnyGemmParams& p, int m, int n, float v) {
  float* y = p.y + static_cast<size_t>(m) * p.n + n;
  if (p.bias) v += p.bias[n];
  *y = p.accumulate ? *y + v : v;
}

// ---- float32 weights: CUDA cores --------------------------------------------------------------

constexpr int kFloatWarps = 8;

// One warp per output column n streams w[n, :] and multiplies it with every x row.
template <int M>
__global__ void __launch_bounds__(kFloatWarps * 32) SkinnyFloatKernel(SkinnyGemmParams p) {
  const int warp = threadIdx.x >> 5;
  const int lane = threadIdx.x & 31;
  detail::WaitForPriorKernels();  // a decode-step kernel: launched as a dependent
  detail::AllowDependentLaunch();
  const int n = blockIdx.x * kFloatWarps + warp;
  if (n >= p.n) return;
  const float* w = static_cast<const float*>(p.w) + static_cast<size_t>(n) * p.k;
  float acc[M];
#pragma unroll
  for (int m = 0; m < M; ++m) acc[m] = 0.f;
  for (int k0 = lane * 8; k0 < p.k; k0 += 32 * 8) {
    const uint4 lo = LoadStreaming(w + k0);
    const uint4 hi = LoadStreaming(w + k0 + 4);
    const float wf[8] = {__uint_as_float(lo.x), __uint_as_float(lo.y), __uint_as_float(lo.z),
                         __uint_as_float(lo.w), __uint_as_float(hi.x), __uint_as_float(hi.y),
                         __uint_as_float(hi.z), __uint_as_float(hi.w)};
#pragma unroll
    for (int m = 0; m < M; ++m) {
      if (m >= p.m) break;
      float xv[8];
      LoadInput8<false>(p, FloatRow(p, m), k0, xv);
#pragma unroll
      for (int e = 0; e < 8; ++e) acc[m] += wf[e] * xv[e];
    }
  }
#pragma unroll
  for (int m = 0; m < M; ++m) {
    if (m >= p.m) break;
    const float sum = detail::WarpSum(acc[m]);
    if (lane == 0) StoreOutput(p, m, n, sum);
  }
}

// ---- 16-bit weights: tensor cores -------------------------------------------------------------
//
// mma.m16n8k16 (row.col, float32 accumulate). Per warp, a "chunk" is 16 weight rows × 32 k:
// thread (g = lane / 4, t = lane % 4) loads w[row g][8t, 8t+8) and w[row g+8][8t, 8t+8) as two
// 16-byte vectors and x[row g][8t, 8t+8). Because a dot product does not depend on the order of
// its k terms, the two mma k-steps of a chunk use the permuted k order in which thread t's
// fragment elements are exactly its own 8 contiguous elements: k-step j takes physical k
// 8t + 4j + {0, 1} as fragment k (2t, 2t+1) and 8t + 4j + {2, 3} as (2t+8, 2t+9), in A and B
// alike. So no shared-memory staging or shuffles are needed to form fragments.

// Warps of a block split k, then reduce in shared memory. 8 normally; 16 when the weight has
// too few column tiles to give every SM a block (the k and v projections of a GQA model), so
// that the SMs that do work keep enough loads in flight (LaunchForRows).
constexpr int kTcWarps = 8;
constexpr int kTcWarpsNarrow = 16;

template <typename T>
__device__ __forceinline__ uint32_t PackPair(float lo, float hi);
template <>
__device__ __forceinline__ uint32_t PackPair<__nv_bfloat16>(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&v);
}
template <>
__device__ __forceinline__ uint32_t PackPair<__half>(float lo, float hi) {
  const __half2 v = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&v);
}

template <typename T>
__device__ __forceinline__ void Mma(float c[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                    uint32_t b0, uint32_t b1) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, "
        "{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  } else {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, "
        "{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  }
}

// The mma B fragment of x row m at k (8 contiguous elements): rounded from float32 (SiLU-and-mul
// applied first when gated), or, with kXHalf, loaded as it is in the weight dtype.
template <typename T, bool kXHalf>
__device__ __forceinline__ void InputFragment(const SkinnyGemmParams& p, int m, int k,
                                              uint32_t b[4]) {
  if constexpr (kXHalf) {
    const uint4 v = *reinterpret_cast<const uint4*>(static_cast<const T*>(p.x) +
                                                    static_cast<size_t>(m) * p.k + k);
    b[0] = v.x, b[1] = v.y, b[2] = v.z, b[3] = v.w;
  } else {
    float xv[8];
    LoadInput8<true>(p, FloatRow(p, m), k, xv);
    b[0] = PackPair<T>(xv[0], xv[1]), b[1] = PackPair<T>(xv[2], xv[3]);
    b[2] = PackPair<T>(xv[4], xv[5]), b[3] = PackPair<T>(xv[6], xv[7]);
  }
}

// MT: 8-row tiles of x (m <= 8 * MT). NT: 16-column weight tiles per warp (x fragments are
// reused across them, halving x traffic for the larger m). A block covers 16 * NT output
// columns with all of k: warp w takes chunks w, w + 8, w + 16, ... (U chunks in flight).
template <typename T, int MT, int NT, int W, bool kXHalf>
__global__ void __launch_bounds__(W * 32) SkinnyTensorCoreKernel(SkinnyGemmParams p) {
  constexpr int U = NT == 1 ? 4 : 2;  // 16-byte weight loads in flight per thread: 2 * NT * U
  const int warp = threadIdx.x >> 5;
  const int lane = threadIdx.x & 31;
  const int g = lane >> 2;
  const int t = lane & 3;
  const int n0 = blockIdx.x * 16 * NT;
  const int chunks = CeilDiv(p.k, 32);
  const T* w = static_cast<const T*>(p.w);

  float acc[NT][MT][4];
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) {
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
      for (int r = 0; r < 4; ++r) acc[nt][mt][r] = 0.f;
    }
  }

  // Launched as a dependent of the kernel that writes x: the first weight loads are issued
  // before waiting for it (weights are never written during a step), so they overlap its tail.
  bool waited = false;
  for (int c0 = warp; c0 < chunks; c0 += W * U) {
    uint4 a[U][NT][2];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int k = (c0 + u * W) * 32 + 8 * t;  // k % 8 == 0: a group is all in or out
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) {
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const int n = n0 + nt * 16 + g + 8 * h;
          a[u][nt][h] = k < p.k && n < p.n ? LoadStreaming(w + static_cast<size_t>(n) * p.k + k)
                                           : make_uint4(0, 0, 0, 0);
        }
      }
    }
    if (!waited) {
      detail::WaitForPriorKernels();
      detail::AllowDependentLaunch();
      waited = true;
    }
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int k = (c0 + u * W) * 32 + 8 * t;
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        const int m = mt * 8 + g;
        uint32_t b[4] = {0, 0, 0, 0};
        if (k < p.k && m < p.m) InputFragment<T, kXHalf>(p, m, k, b);
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) {
          const uint4& lo = a[u][nt][0];  // row g
          const uint4& hi = a[u][nt][1];  // row g + 8
          Mma<T>(acc[nt][mt], lo.x, hi.x, lo.y, hi.y, b[0], b[1]);
          Mma<T>(acc[nt][mt], lo.z, hi.z, lo.w, hi.w, b[2], b[3]);
        }
      }
    }
  }

  if (!waited) {  // a warp with no chunk: the stores below must still follow the prior kernels
    detail::WaitForPriorKernels();
    detail::AllowDependentLaunch();
  }
  // Sum the warps' partial tiles in a fixed order (deterministic), one column tile at a time.
  // Accumulator r of thread (g, t) in x tile mt holds weight row g + 8 * (r / 2) and x row
  // mt * 8 + 2t + r % 2.
  __shared__ float partial[W][MT * 4][32];
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) {
    if (nt > 0) __syncthreads();
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
      for (int r = 0; r < 4; ++r) partial[warp][mt * 4 + r][lane] = acc[nt][mt][r];
    }
    __syncthreads();
    for (int i = threadIdx.x; i < MT * 4 * 32; i += blockDim.x) {
      const int slot = i / 32;
      const int mt = slot / 4;
      const int r = slot % 4;
      const int src = i % 32;
      const int n = n0 + nt * 16 + (src >> 2) + 8 * (r >> 1);
      const int m = mt * 8 + 2 * (src & 3) + (r & 1);
      if (n >= p.n || m >= p.m) continue;
      float sum = 0.f;
#pragma unroll
      for (int v = 0; v < W; ++v) sum += partial[v][slot][src];
      StoreOutput(p, m, n, sum);
    }
  }
}

template <typename T, int MT, int NT, int W>
Status LaunchTensorCore(const SkinnyGemmParams& p, Stream stream) {
  const int blocks = CeilDiv(p.n, 16 * NT);
  return p.x_dtype == DType::kFloat32
             ? detail::LaunchDependent(SkinnyTensorCoreKernel<T, MT, NT, W, false>, blocks, W * 32,
                                       0, stream, p)
             : detail::LaunchDependent(SkinnyTensorCoreKernel<T, MT, NT, W, true>, blocks, W * 32,
                                       0, stream, p);
}

// Block shape for 8 * MT rows: two column tiles per warp (half the x traffic) while that still
// gives every SM a block; otherwise one, and 16 warps when even that leaves SMs idle (the
// wider block's partial sums fit in static shared memory up to MT = 4).
template <typename T, int MT>
Status LaunchForRows(const SkinnyGemmParams& p, Stream stream) {
  const int sms = detail::DeviceMultiprocessors();
  if constexpr (MT > 2) {
    if (CeilDiv(p.n, 32) >= sms) return LaunchTensorCore<T, MT, 2, kTcWarps>(p, stream);
  }
  if constexpr (MT <= 4) {
    if (CeilDiv(p.n, 16) < sms) return LaunchTensorCore<T, MT, 1, kTcWarpsNarrow>(p, stream);
  }
  return LaunchTensorCore<T, MT, 1, kTcWarps>(p, stream);
}

template <typename T>
Status DispatchTensorCore(const SkinnyGemmParams& p, Stream stream) {
  if (p.m <= 8) return LaunchForRows<T, 1>(p, stream);
  if (p.m <= 16) return LaunchForRows<T, 2>(p, stream);
  if (p.m <= 32) return LaunchForRows<T, 4>(p, stream);
  return LaunchForRows<T, 8>(p, stream);
}

Status DispatchFloat(const SkinnyGemmParams& p, Stream stream) {
  const int blocks = CeilDiv(p.n, kFloatWarps);
  const int threads = kFloatWarps * 32;
  if (p.m <= 2) return detail::LaunchDependent(SkinnyFloatKernel<2>, blocks, threads, 0, stream, p);
  if (p.m <= 4) return detail::LaunchDependent(SkinnyFloatKernel<4>, blocks, threads, 0, stream, p);
  return detail::LaunchDependent(SkinnyFloatKernel<kSkinnyFloatMaxRows>, blocks, threads, 0, stream,
                                 p);
}

}  // namespace

bool SkinnyGemmApplies(const SkinnyGemmParams& p) {
  const int max_rows = p.dtype == DType::kFloat32 ? kSkinnyFloatMaxRows : kSkinnyMaxRows;
  if (p.silu_gated_input && p.m > kSkinnyGatedMaxRows) return false;
  // A 16-bit x must be in the weight's dtype, and is never gated.
  if (p.x_dtype != DType::kFloat32 && (p.x_dtype != p.dtype || p.silu_gated_input)) return false;
  return p.m >= 1 && p.m <= max_rows && p.k % 8 == 0 &&
         reinterpret_cast<uintptr_t>(p.w) % 16 == 0 && reinterpret_cast<uintptr_t>(p.x) % 16 == 0;
}

Status SkinnyGemm(const SkinnyGemmParams& p, Stream stream) {
  if (p.n <= 0 || p.k <= 0 || p.m < 0 || !p.x || !p.w || !p.y) return Status::kInvalidArgument;
  if (p.m == 0) return Status::kOk;
  if (!SkinnyGemmApplies(p)) return Status::kUnsupported;
  return DispatchDType(p.dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if constexpr (std::is_same_v<T, float>) {
      return DispatchFloat(p, stream);
    } else {
      return DispatchTensorCore<T>(p, stream);
    }
  });
}

}  // namespace tg::kernels
