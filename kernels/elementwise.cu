#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "kernels/dependent_launch.cuh"
#include "kernels/device_utils.cuh"
#include "kernels/elementwise.h"
#include "kernels/rotary.cuh"

namespace tg::kernels {
namespace {

using detail::FromFloat;
using detail::ToFloat;

template <typename T>
__global__ void EmbeddingKernel(EmbeddingParams p) {
  detail::WaitForPriorKernels();  // a decode-step kernel: launched as a dependent
  detail::AllowDependentLaunch();
  const int t = blockIdx.x;
  const int id = p.token_ids[t] - p.vocab_start;
  const bool inside = id >= 0 && id < p.vocab_size;
  const T* row = static_cast<const T*>(p.table) + static_cast<size_t>(inside ? id : 0) * p.hidden;
  float* out = p.out + static_cast<size_t>(t) * p.hidden;
  for (int i = threadIdx.x; i < p.hidden; i += blockDim.x) out[i] = inside ? ToFloat(row[i]) : 0.f;
}

// The generic form: any stride or width, one block per row, two passes over the row.
template <typename T, typename OutT>
__global__ void RmsNormKernel(RmsNormParams p) {
  __shared__ float reduce[32];
  detail::WaitForPriorKernels();  // a decode-step kernel: launched as a dependent
  detail::AllowDependentLaunch();
  const int row = blockIdx.x;
  const size_t token = row / p.heads_per_token;
  const size_t head_offset = static_cast<size_t>(row % p.heads_per_token) * p.cols;
  const float* in = p.input + token * p.input_stride + head_offset;
  float* res = p.residual ? p.residual + token * p.residual_stride + head_offset : nullptr;
  OutT* out = static_cast<OutT*>(p.out) + token * p.out_stride + head_offset;
  const T* w = static_cast<const T*>(p.weight);

  float sum_sq = 0.f;
  for (int i = threadIdx.x; i < p.cols; i += blockDim.x) {
    float x = in[i];
    if (res) {
      x += res[i];
      res[i] = x;
    }
    sum_sq += x * x;
  }
  const float inv_rms = rsqrtf(detail::BlockSum(sum_sq, reduce) / p.cols + p.eps);
  // Each thread re-reads only elements it wrote itself, so no barrier is needed, and out may
  // alias input.
  for (int i = threadIdx.x; i < p.cols; i += blockDim.x) {
    const float x = res ? res[i] : in[i];
    out[i] = FromFloat<OutT>((x * inv_rms) * ToFloat(w[i]));
  }
}

// The hidden-state form (rows of cols % 4 == 0, 16-byte aligned): every thread holds its V
// float4 vectors of the row, and their weights, in registers from one round of loads, so the
// row is read once and the weights' load latency hides behind the input's. A decode step runs
// it twice per layer on one row, where the two-pass form's dependent loads were most of its
// 6 us.
template <typename T, typename OutT, int V>
__global__ void RmsNormVectorKernel(RmsNormParams p) {
  __shared__ float reduce[32];
  detail::WaitForPriorKernels();  // a decode-step kernel: launched as a dependent
  detail::AllowDependentLaunch();
  const size_t row = blockIdx.x;
  const int vectors = p.cols / 4;
  const float4* in = reinterpret_cast<const float4*>(p.input + row * p.input_stride);
  float4* res =
      p.residual ? reinterpret_cast<float4*>(p.residual + row * p.residual_stride) : nullptr;
  const T* w = static_cast<const T*>(p.weight);
  float4 x[V];
  float wv[V][4];
  float sum_sq = 0.f;
#pragma unroll
  for (int j = 0; j < V; ++j) {
    const int v = threadIdx.x + j * blockDim.x;
    if (v >= vectors) continue;
    x[j] = in[v];
#pragma unroll
    for (int e = 0; e < 4; ++e) wv[j][e] = ToFloat(w[4 * v + e]);
    if (res) {
      const float4 r = res[v];
      x[j] = make_float4(x[j].x + r.x, x[j].y + r.y, x[j].z + r.z, x[j].w + r.w);
      res[v] = x[j];
    }
    sum_sq += x[j].x * x[j].x + x[j].y * x[j].y + x[j].z * x[j].z + x[j].w * x[j].w;
  }
  const float inv_rms = rsqrtf(detail::BlockSum(sum_sq, reduce) / p.cols + p.eps);
  OutT* out = static_cast<OutT*>(p.out) + row * p.out_stride;
#pragma unroll
  for (int j = 0; j < V; ++j) {
    const int v = threadIdx.x + j * blockDim.x;
    if (v >= vectors) continue;
    const float xs[4] = {x[j].x, x[j].y, x[j].z, x[j].w};
#pragma unroll
    for (int e = 0; e < 4; ++e) out[4 * v + e] = FromFloat<OutT>((xs[e] * inv_rms) * wv[j][e]);
  }
}

template <typename T, int kVec>
struct alignas(sizeof(T) * kVec) Elements {
  T v[kVec];
};

template <typename InT, typename OutT, int kVec>
__device__ __forceinline__ void SiluAndMulRow(const SiluAndMulParams& p, size_t t) {
  const InT* gate = static_cast<const InT*>(p.input) + t * 2 * p.inter;
  const InT* up = gate + p.inter;
  OutT* out = static_cast<OutT*>(p.out) + t * p.inter;
  for (int i = (blockIdx.x * blockDim.x + threadIdx.x) * kVec; i < p.inter;
       i += gridDim.x * blockDim.x * kVec) {
    const Elements<InT, kVec> g = *reinterpret_cast<const Elements<InT, kVec>*>(gate + i);
    const Elements<InT, kVec> u = *reinterpret_cast<const Elements<InT, kVec>*>(up + i);
#pragma unroll
    for (int e = 0; e < kVec; ++e) {
      const float gv = ToFloat(g.v[e]);
      out[i + e] = FromFloat<OutT>(gv / (1.f + expf(-gv)) * ToFloat(u.v[e]));
    }
  }
}

// Grid: (column blocks, token rows), so no thread divides its index by the row width; four
// consecutive columns per thread (one vector load each of gate and up) when the width allows.
template <typename InT, typename OutT, int kVec>
__global__ void SiluAndMulKernel(SiluAndMulParams p) {
  detail::WaitForPriorKernels();  // a decode-step kernel: launched as a dependent
  detail::AllowDependentLaunch();
  for (size_t t = blockIdx.y; t < static_cast<size_t>(p.num_tokens); t += gridDim.y) {
    SiluAndMulRow<InT, OutT, kVec>(p, t);
  }
}

// One thread per element (per four when every width allows float4 copies); the part of column c
// is found by walking at most kMaxParts widths.
template <int kVec>
__global__ void SplitColumnsKernel(SplitColumnsParams p, int row_width) {
  detail::WaitForPriorKernels();  // a decode-step kernel: launched as a dependent
  detail::AllowDependentLaunch();
  using Vec = std::conditional_t<kVec == 4, float4, float>;
  const size_t per_row = row_width / kVec;
  const size_t total = static_cast<size_t>(p.num_rows) * per_row;
  for (size_t idx = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const size_t row = idx / per_row;
    int col = static_cast<int>(idx % per_row) * kVec, part = 0;
    while (col >= p.widths[part]) col -= p.widths[part++];
    const Vec value = *reinterpret_cast<const Vec*>(p.input + row * row_width +
                                                    static_cast<size_t>(idx % per_row) * kVec);
    *reinterpret_cast<Vec*>(p.outs[part] + row * p.widths[part] + col) = value;
  }
}

// One block per (token, group of heads): the cosines and sines of the token's rotary_dim / 2
// angles are computed once per block into shared memory, then its threads walk (head, pair)
// with consecutive threads on consecutive pairs; heads [0, num_q_heads) are q, the rest k.
// Few tokens (decode) split the heads over enough blocks to fill the GPU; many (prefill) keep
// all heads in one block and compute each angle once per token. (A block per (token, head)
// recomputed every angle for every head: 52 us a layer for a 2,048-token prefill on the H200;
// a block per token alone left a batch-1 step with one busy SM: 7 us a layer.)
__global__ void RotaryKernel(RotaryParams p, int heads_per_block) {
  extern __shared__ float angles[];  // [half] cosines, then [half] sines
  const int t = blockIdx.x;
  const int half = p.rotary_dim / 2;
  const float pos = static_cast<float>(p.positions[t]);
  for (int i = threadIdx.x; i < half; i += blockDim.x) {
    sincosf(pos * p.inv_freq[i], &angles[half + i], &angles[i]);
  }
  __syncthreads();
  const int first = blockIdx.y * heads_per_block;
  const int heads = min(heads_per_block, p.num_q_heads + p.num_kv_heads - first);
  for (int j = threadIdx.x; j < heads * half; j += blockDim.x) {
    const int h = first + j / half;
    const int i = j % half;
    float* head = h < p.num_q_heads ? p.q + static_cast<size_t>(t) * p.q_stride +
                                          static_cast<size_t>(h) * p.head_dim
                                    : p.k + static_cast<size_t>(t) * p.k_stride +
                                          static_cast<size_t>(h - p.num_q_heads) * p.head_dim;
    detail::RotatePair(p, head, i, angles[i], angles[half + i]);
  }
}

template <typename T>
__global__ void ConvertKernel(ConvertParams p) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < p.count;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    static_cast<T*>(p.out)[i] = FromFloat<T>(p.input[i]);
  }
}

int NormThreads(int cols) {
  int threads = 32;
  while (threads < cols && threads < 1024) threads *= 2;
  return threads;
}

int GridFor(size_t total) { return static_cast<int>(std::min<size_t>((total + 255) / 256, 65536)); }

}  // namespace

Status Embedding(const EmbeddingParams& p, Stream stream) {
  if (p.num_tokens < 0 || p.hidden <= 0 || p.vocab_size <= 0) return Status::kInvalidArgument;
  if (p.num_tokens == 0) return Status::kOk;
  if (!p.token_ids || !p.table || !p.out) return Status::kInvalidArgument;
  return DispatchDType(p.dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    return detail::LaunchDependent(EmbeddingKernel<T>, p.num_tokens, 256, 0, stream, p);
  });
}

Status RmsNorm(const RmsNormParams& p, Stream stream) {
  if (p.num_tokens < 0 || p.cols <= 0 || p.heads_per_token <= 0) return Status::kInvalidArgument;
  if (p.num_tokens == 0) return Status::kOk;
  if (!p.input || !p.weight || !p.out) return Status::kInvalidArgument;
  RmsNormParams q = p;
  const int dense = p.heads_per_token * p.cols;
  if (q.input_stride == 0) q.input_stride = dense;
  if (q.residual_stride == 0) q.residual_stride = dense;
  if (q.out_stride == 0) q.out_stride = dense;
  if (q.input_stride < dense || q.residual_stride < dense || q.out_stride < dense) {
    return Status::kInvalidArgument;
  }
  const int rows = p.num_tokens * p.heads_per_token;
  // The register form serves whole-token rows of up to 4 vectors per thread of 1024.
  const int vectors = p.cols / 4;
  const int threads = NormThreads((vectors + 3) / 4);
  const bool vector_form = p.heads_per_token == 1 && p.cols % 4 == 0 && vectors <= 4 * 1024 &&
                           q.input_stride % 4 == 0 && q.residual_stride % 4 == 0 &&
                           q.out_stride % 4 == 0 &&
                           reinterpret_cast<uintptr_t>(p.input) % 16 == 0 &&
                           reinterpret_cast<uintptr_t>(p.residual) % 16 == 0;
  return DispatchDType(p.dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    auto launch = [&](auto* out_tag) {
      using OutT = std::remove_pointer_t<decltype(out_tag)>;
      if (!vector_form) {
        return detail::LaunchDependent(RmsNormKernel<T, OutT>, rows, NormThreads(p.cols), 0, stream,
                                       q);
      }
      if (vectors <= threads) {
        return detail::LaunchDependent(RmsNormVectorKernel<T, OutT, 1>, rows, threads, 0, stream,
                                       q);
      }
      if (vectors <= 2 * threads) {
        return detail::LaunchDependent(RmsNormVectorKernel<T, OutT, 2>, rows, threads, 0, stream,
                                       q);
      }
      return detail::LaunchDependent(RmsNormVectorKernel<T, OutT, 4>, rows, threads, 0, stream, q);
    };
    return DispatchDType(p.out_dtype, launch);
  });
}

Status SiluAndMul(const SiluAndMulParams& p, Stream stream) {
  if (p.num_tokens < 0 || p.inter <= 0) return Status::kInvalidArgument;
  if (p.num_tokens == 0) return Status::kOk;
  if (!p.input || !p.out) return Status::kInvalidArgument;
  // Four consecutive columns per thread when every row's gate and up start on a 4-element
  // boundary of an aligned input.
  const size_t vec_bytes = 4 * DTypeSize(p.input_dtype);
  const bool vec = p.inter % 4 == 0 && reinterpret_cast<uintptr_t>(p.input) % vec_bytes == 0;
  const int per_block = 256 * (vec ? 4 : 1);
  const dim3 grid(std::min((p.inter + per_block - 1) / per_block, 1024),
                  std::min(p.num_tokens, 65535));
  return DispatchDType(p.input_dtype, [&](auto* in_tag) {
    using InT = std::remove_pointer_t<decltype(in_tag)>;
    return DispatchDType(p.out_dtype, [&](auto* out_tag) {
      using OutT = std::remove_pointer_t<decltype(out_tag)>;
      return vec ? detail::LaunchDependent(SiluAndMulKernel<InT, OutT, 4>, grid, 256, 0, stream, p)
                 : detail::LaunchDependent(SiluAndMulKernel<InT, OutT, 1>, grid, 256, 0, stream, p);
    });
  });
}

Status SplitColumns(const SplitColumnsParams& p, Stream stream) {
  if (p.num_parts < 1 || p.num_parts > SplitColumnsParams::kMaxParts || p.num_rows < 0 ||
      !p.input) {
    return Status::kInvalidArgument;
  }
  int row_width = 0;
  bool vectorizable = reinterpret_cast<uintptr_t>(p.input) % 16 == 0;
  for (int part = 0; part < p.num_parts; ++part) {
    if (p.widths[part] <= 0 || !p.outs[part]) return Status::kInvalidArgument;
    row_width += p.widths[part];
    vectorizable = vectorizable && p.widths[part] % 4 == 0 &&
                   reinterpret_cast<uintptr_t>(p.outs[part]) % 16 == 0;
  }
  if (p.num_rows == 0) return Status::kOk;
  const size_t total = static_cast<size_t>(p.num_rows) * row_width;
  return vectorizable ? detail::LaunchDependent(SplitColumnsKernel<4>, GridFor(total / 4), 256, 0,
                                                stream, p, row_width)
                      : detail::LaunchDependent(SplitColumnsKernel<1>, GridFor(total), 256, 0,
                                                stream, p, row_width);
}

Status Rotary(const RotaryParams& p, Stream stream) {
  if (const Status status = detail::CheckRotary(p); status != Status::kOk) return status;
  if (p.num_tokens == 0 || p.num_q_heads + p.num_kv_heads == 0) return Status::kOk;
  const detail::RotaryLaunch launch =
      detail::RotaryLaunchFor(p.num_tokens, p.num_q_heads + p.num_kv_heads, p.rotary_dim / 2);
  RotaryKernel<<<launch.grid, launch.threads, p.rotary_dim * sizeof(float), stream>>>(
      p, launch.heads_per_block);
  return detail::LaunchStatus();
}

Status ConvertFromFloat(const ConvertParams& p, Stream stream) {
  if (p.count == 0) return Status::kOk;
  if (!p.input || !p.out) return Status::kInvalidArgument;
  return DispatchDType(p.dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    ConvertKernel<T><<<GridFor(p.count), 256, 0, stream>>>(p);
    return detail::LaunchStatus();
  });
}

}  // namespace tg::kernels
