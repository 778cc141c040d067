// Flash-attention-style causal prefill on tensor cores (WMMA bf16 16x16x16, float32
// accumulation) for a bfloat16 paged cache and head sizes 64/128: each block takes 64 queries of
// one head (4 warps x 16 rows), streams 64-key tiles of K and V through shared memory, keeps
// S = QK^T, the probabilities and the output accumulator in shared memory, and rescales with the
// online softmax. Queries are rounded to bf16 (scale folded in); the probabilities too before P·V.
#include <mma.h>

#include "kernels/attention_common.cuh"
#include "kernels/attention_internal.h"
#include "kernels/device_utils.cuh"

namespace tg::kernels::detail {
namespace {

using namespace nvcuda;
using bf16 = __nv_bfloat16;

constexpr int kBr = 64;
constexpr int kBc = 64;
constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;

template <int HD>
struct Layout {
  static constexpr int kLdq = HD + 8;   // bf16 elements; padding breaks bank conflicts
  static constexpr int kLds = kBc + 4;  // float
  static constexpr int kLdp = kBc + 8;  // bf16
  static constexpr int kLdo = HD + 4;   // float
  static constexpr size_t kQ = 0;
  static constexpr size_t kK = kQ + sizeof(bf16) * kBr * kLdq;
  static constexpr size_t kV = kK + sizeof(bf16) * kBc * kLdq;
  static constexpr size_t kS = kV + sizeof(bf16) * kBc * kLdq;
  static constexpr size_t kP = kS + sizeof(float) * kBr * kLds;
  static constexpr size_t kO = kP + sizeof(bf16) * kBr * kLdp;
  static constexpr size_t kM = kO + sizeof(float) * kBr * kLdo;
  static constexpr size_t kL = kM + sizeof(float) * kBr;
  static constexpr size_t kBytes = kL + sizeof(float) * kBr;
};

template <int HD>
__global__ void __launch_bounds__(kThreads) PrefillTcKernel(PrefillAttentionParams p) {
  using L = Layout<HD>;
  extern __shared__ __align__(128) unsigned char smem[];
  bf16* q_s = reinterpret_cast<bf16*>(smem + L::kQ);
  bf16* k_s = reinterpret_cast<bf16*>(smem + L::kK);
  bf16* v_s = reinterpret_cast<bf16*>(smem + L::kV);
  float* s_s = reinterpret_cast<float*>(smem + L::kS);
  bf16* p_s = reinterpret_cast<bf16*>(smem + L::kP);
  float* o_s = reinterpret_cast<float*>(smem + L::kO);
  float* row_m = reinterpret_cast<float*>(smem + L::kM);
  float* row_l = reinterpret_cast<float*>(smem + L::kL);

  const int s = blockIdx.z;
  const int h = blockIdx.y;
  const int q0 = blockIdx.x * kBr;
  const int qstart = p.query_starts[s];
  const int qlen = p.query_starts[s + 1] - qstart;
  if (q0 >= qlen) return;
  const int cache_len = p.seq_lens[s] - qlen;
  const int kvh = h / (p.num_q_heads / p.num_kv_heads);
  const int32_t* table = p.block_tables + static_cast<size_t>(s) * p.max_blocks_per_seq;
  const int rows = min(kBr, qlen - q0);
  const int warp = threadIdx.x >> 5;
  const int lane = threadIdx.x & 31;

  for (int idx = threadIdx.x; idx < kBr * HD; idx += kThreads) {
    const int r = idx / HD, d = idx % HD;
    const float v = r < rows ? p.q[static_cast<size_t>(qstart + q0 + r) * p.q_stride +
                                   static_cast<size_t>(h) * HD + d] *
                                   p.scale
                             : 0.f;
    q_s[r * L::kLdq + d] = __float2bfloat16_rn(v);
  }
  for (int idx = threadIdx.x; idx < kBr * L::kLdo; idx += kThreads) o_s[idx] = 0.f;
  for (int idx = threadIdx.x; idx < kBr; idx += kThreads) {
    row_m[idx] = -INFINITY;
    row_l[idx] = 0.f;
  }

  // This lane's softmax row and column half inside its warp's 16 rows.
  const int my_row = warp * 16 + (lane >> 1);
  const int col0 = (lane & 1) * (kBc / 2);
  const int qi = q0 + my_row;
  const bool row_valid = qi < qlen;
  const int pos = cache_len + qi;
  float* s_w = s_s + warp * 16 * L::kLds;
  bf16* p_w = p_s + warp * 16 * L::kLdp;
  float* o_w = o_s + warp * 16 * L::kLdo;

  const int visible_end = cache_len + q0 + rows;
  constexpr int kChunks = HD / 8;  // 16-byte chunks per row
  for (int k0 = 0; k0 < visible_end; k0 += kBc) {
    const int tile = min(kBc, visible_end - k0);
    __syncthreads();
    for (int idx = threadIdx.x; idx < kBc * kChunks; idx += kThreads) {
      const int j = idx / kChunks, c = idx % kChunks;
      uint4 kv = make_uint4(0, 0, 0, 0), vv = make_uint4(0, 0, 0, 0);
      if (j < tile) {
        const int pos_j = k0 + j;
        const size_t row = (static_cast<size_t>(table[pos_j / p.block_size]) * p.block_size +
                            pos_j % p.block_size) *
                               p.num_kv_heads +
                           kvh;
        kv = reinterpret_cast<const uint4*>(static_cast<const bf16*>(p.k_cache) + row * HD)[c];
        vv = reinterpret_cast<const uint4*>(static_cast<const bf16*>(p.v_cache) + row * HD)[c];
      }
      *reinterpret_cast<uint4*>(k_s + j * L::kLdq + c * 8) = kv;
      *reinterpret_cast<uint4*>(v_s + j * L::kLdq + c * 8) = vv;
    }
    __syncthreads();

    {  // S = Q K^T for this warp's 16 rows
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[kBc / 16];
#pragma unroll
      for (int nb = 0; nb < kBc / 16; ++nb) wmma::fill_fragment(acc[nb], 0.f);
#pragma unroll
      for (int kk = 0; kk < HD; kk += 16) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> a;
        wmma::load_matrix_sync(a, q_s + warp * 16 * L::kLdq + kk, L::kLdq);
#pragma unroll
        for (int nb = 0; nb < kBc / 16; ++nb) {
          wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> b;
          wmma::load_matrix_sync(b, k_s + nb * 16 * L::kLdq + kk, L::kLdq);
          wmma::mma_sync(acc[nb], a, b, acc[nb]);
        }
      }
#pragma unroll
      for (int nb = 0; nb < kBc / 16; ++nb) {
        wmma::store_matrix_sync(s_w + nb * 16, acc[nb], L::kLds, wmma::mem_row_major);
      }
    }
    __syncwarp();

    // Online softmax: two lanes per row, 32 columns each.
    const float* srow = s_w + (lane >> 1) * L::kLds;
    float mx = -INFINITY;
    for (int c = col0; c < col0 + kBc / 2; ++c) {
      const bool keep = row_valid && c < tile && k0 + c <= pos;
      if (keep) mx = fmaxf(mx, srow[c]);
    }
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
    const float m_old = row_m[my_row];
    const float m_new = fmaxf(m_old, mx);
    const bool any = m_new != -INFINITY;
    const float corr = any ? __expf(m_old - m_new) : 1.f;
    float sum = 0.f;
    bf16* prow = p_w + (lane >> 1) * L::kLdp;
    for (int c = col0; c < col0 + kBc / 2; ++c) {
      const bool keep = any && row_valid && c < tile && k0 + c <= pos;
      const float e = keep ? __expf(srow[c] - m_new) : 0.f;
      sum += e;
      prow[c] = __float2bfloat16_rn(e);
    }
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    float* orow = o_w + (lane >> 1) * L::kLdo;
    for (int d = (lane & 1) * (HD / 2); d < (lane & 1) * (HD / 2) + HD / 2; ++d) orow[d] *= corr;
    __syncwarp();
    if ((lane & 1) == 0) {
      row_l[my_row] = row_l[my_row] * corr + sum;
      row_m[my_row] = m_new;
    }

    // O += P V
#pragma unroll
    for (int db = 0; db < HD / 16; ++db) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> o;
      wmma::load_matrix_sync(o, o_w + db * 16, L::kLdo, wmma::mem_row_major);
#pragma unroll
      for (int kk = 0; kk < kBc; kk += 16) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> a;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> b;
        wmma::load_matrix_sync(a, p_w + kk, L::kLdp);
        wmma::load_matrix_sync(b, v_s + kk * L::kLdq + db * 16, L::kLdq);
        wmma::mma_sync(o, a, b, o);
      }
      wmma::store_matrix_sync(o_w + db * 16, o, L::kLdo, wmma::mem_row_major);
    }
    __syncwarp();
  }
  __syncwarp();
  for (int r = 0; r < 16; ++r) {
    const int q = q0 + warp * 16 + r;
    if (q >= qlen) break;
    const float inv = 1.f / row_l[warp * 16 + r];
    const size_t row = static_cast<size_t>(qstart + q) * p.out_stride + static_cast<size_t>(h) * HD;
    for (int d = lane; d < HD; d += 32)
      StoreOut(p.out, p.out_dtype, row + d, o_w[r * L::kLdo + d] * inv);
  }
}

template <int HD>
Status Launch(const PrefillAttentionParams& p, Stream stream) {
  const size_t bytes = Layout<HD>::kBytes;
  if (cudaFuncSetAttribute(PrefillTcKernel<HD>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                           static_cast<int>(bytes)) != cudaSuccess) {
    return Status::kUnsupported;
  }
  const dim3 grid((p.max_query_len + kBr - 1) / kBr, p.num_q_heads, p.num_seqs);
  PrefillTcKernel<HD><<<grid, kThreads, bytes, stream>>>(p);
  return LaunchStatus();
}

}  // namespace

Status PrefillAttentionTensorCore(const PrefillAttentionParams& p, Stream stream) {
  if (p.dtype != DType::kBFloat16) return Status::kUnsupported;
  switch (p.head_dim) {
    case 64:
      return Launch<64>(p, stream);
    case 128:
      return Launch<128>(p, stream);
    default:
      return Status::kUnsupported;
  }
}

}  // namespace tg::kernels::detail
