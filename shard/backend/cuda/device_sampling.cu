#define TG_PHILOX_HD __host__ __device__
#include "shard/backend/philox.h"
//
#include <climits>
#include <cstdint>

#include "kernels/device_utils.cuh"
#include "shard/backend/cuda/device_sampling.h"

namespace tg::backend::cuda {
namespace {

using kernels::detail::BlockMax;
using kernels::detail::BlockSum;

constexpr int kThreads = 1024;

// Maps floats to unsigned keys with the same order (-inf lowest).
__device__ __forceinline__ uint32_t OrderKey(float x) {
  const uint32_t u = __float_as_uint(x);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
__device__ __forceinline__ float KeyValue(uint32_t k) {
  return __uint_as_float((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k);
}

struct Scratch {
  int32_t* counts;
  float* work;
  float* aux;
};

__host__ __device__ Scratch SplitScratch(void* base, int rows, int vocab) {
  const size_t n = static_cast<size_t>(rows) * vocab;
  int32_t* counts = static_cast<int32_t*>(base);
  float* work = reinterpret_cast<float*>(counts + n);
  return {counts, work, work + n};
}

// Arg-max over x[0, vocab) skipping `excluded` ids; lowest id wins ties. Every thread gets it.
__device__ int BlockArgMax(const float* x, int vocab, const int* excluded, int num_excluded,
                           float* red_v, int* red_i) {
  float best = -INFINITY;
  int best_i = INT_MAX;
  for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
    bool skip = false;
    for (int e = 0; e < num_excluded; ++e) skip |= excluded[e] == i;
    if (!skip && (x[i] > best || best_i == INT_MAX)) {
      best = x[i];
      best_i = i;
    }
  }
  for (int off = 16; off > 0; off >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, best, off);
    const int oi = __shfl_xor_sync(0xffffffffu, best_i, off);
    if (oi != INT_MAX && (best_i == INT_MAX || ov > best || (ov == best && oi < best_i))) {
      best = ov;
      best_i = oi;
    }
  }
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  __syncthreads();
  if (lane == 0) {
    red_v[warp] = best;
    red_i[warp] = best_i;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < static_cast<int>(blockDim.x >> 5); ++w) {
      if (red_i[w] != INT_MAX && (red_i[0] == INT_MAX || red_v[w] > red_v[0] ||
                                  (red_v[w] == red_v[0] && red_i[w] < red_i[0]))) {
        red_v[0] = red_v[w];
        red_i[0] = red_i[w];
      }
    }
  }
  __syncthreads();
  return red_i[0];
}

// The greedy token (arg-max, lowest id wins ties) and log(sum(exp(x))) of x[0, vocab) in one
// read of the row: each thread keeps its arg-max and an online log-sum-exp (a running maximum
// with the sum rescaled when it grows), merged across the block. Every thread gets both.
struct ArgMaxLse {
  float best;
  int best_i;
  float max;  // of the finite values; -inf when none
  float sum;  // of exp(x - max)
};

__device__ __forceinline__ void MergeLse(float m2, float s2, float* m, float* s) {
  if (m2 == -INFINITY) return;
  if (*m == -INFINITY) {
    *m = m2;
    *s = s2;
    return;
  }
  const float top = fmaxf(*m, m2);
  *s = *s * expf(*m - top) + s2 * expf(m2 - top);
  *m = top;
}

__device__ __forceinline__ void MergeArgMax(float v2, int i2, float* v, int* i) {
  if (i2 != INT_MAX && (*i == INT_MAX || v2 > *v || (v2 == *v && i2 < *i))) {
    *v = v2;
    *i = i2;
  }
}

__device__ ArgMaxLse BlockArgMaxLse(const float* x, int vocab, float* red_v, int* red_i,
                                    float* red_m, float* red_s) {
  ArgMaxLse r{-INFINITY, INT_MAX, -INFINITY, 0.f};
  // Each thread visits its elements in increasing id order, so a strict > keeps the lowest id.
  auto visit = [&r](float v, int i) {
    if (v > r.best || r.best_i == INT_MAX) {
      r.best = v;
      r.best_i = i;
    }
    if (v == -INFINITY) return;
    if (v > r.max) {
      r.sum = r.max == -INFINITY ? 1.f : r.sum * expf(r.max - v) + 1.f;
      r.max = v;
    } else {
      r.sum += expf(v - r.max);
    }
  };
  if (vocab % 4 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0) {
    // kLoads float4 loads in flight per thread: one block reads a whole row, and with one
    // 4-byte load at a time it waited on memory latency (65 us for 128k logits on the H200).
    constexpr int kLoads = 4;
    const float4* x4 = reinterpret_cast<const float4*>(x);
    const int n4 = vocab / 4;
    for (int base = threadIdx.x; base < n4; base += kLoads * blockDim.x) {
      float4 v[kLoads];
#pragma unroll
      for (int u = 0; u < kLoads; ++u) {
        const int j = base + u * blockDim.x;
        if (j < n4) v[u] = x4[j];
      }
#pragma unroll
      for (int u = 0; u < kLoads; ++u) {
        const int j = base + u * blockDim.x;
        if (j >= n4) break;
        visit(v[u].x, 4 * j);
        visit(v[u].y, 4 * j + 1);
        visit(v[u].z, 4 * j + 2);
        visit(v[u].w, 4 * j + 3);
      }
    }
  } else {
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) visit(x[i], i);
  }
  for (int off = 16; off > 0; off >>= 1) {
    MergeArgMax(__shfl_xor_sync(0xffffffffu, r.best, off),
                __shfl_xor_sync(0xffffffffu, r.best_i, off), &r.best, &r.best_i);
    MergeLse(__shfl_xor_sync(0xffffffffu, r.max, off), __shfl_xor_sync(0xffffffffu, r.sum, off),
             &r.max, &r.sum);
  }
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  __syncthreads();
  if (lane == 0) {
    red_v[warp] = r.best;
    red_i[warp] = r.best_i;
    red_m[warp] = r.max;
    red_s[warp] = r.sum;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < static_cast<int>(blockDim.x >> 5); ++w) {
      MergeArgMax(red_v[w], red_i[w], &red_v[0], &red_i[0]);
      MergeLse(red_m[w], red_s[w], &red_m[0], &red_s[0]);
    }
  }
  __syncthreads();
  r = {red_v[0], red_i[0], red_m[0], red_s[0]};
  __syncthreads();  // the shared slots may be reused right after
  return r;
}

// The reference's Softmax: exp in float32 (accurate expf, not __expf), the normaliser summed in
// double, probabilities = exp * float(1 / sum).
struct Softmax {
  float max;
  float inv_sum;
  __device__ float Prob(float x) const { return x == -INFINITY ? 0.f : expf(x - max) * inv_sum; }
};

__device__ double BlockSumDouble(double v, double* shared) {
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  __syncthreads();
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = lane < static_cast<int>(blockDim.x >> 5) ? shared[lane] : 0.0;
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__device__ Softmax BlockSoftmax(const float* x, int vocab, float* red) {
  __shared__ double red_d[32];
  float m = -INFINITY;
  for (int i = threadIdx.x; i < vocab; i += blockDim.x) m = fmaxf(m, x[i]);
  m = BlockMax(m, red);
  double s = 0.0;
  for (int i = threadIdx.x; i < vocab; i += blockDim.x)
    s += x[i] == -INFINITY ? 0.f : expf(x[i] - m);
  s = BlockSumDouble(s, red_d);
  return {m, static_cast<float>(1.0 / s)};
}

// Largest key K in [0, hi] with mass(OrderKey(x) >= K) >= target, mass being probability
// (use_prob) or count.
__device__ uint32_t BisectUpper(const float* x, int vocab, const Softmax& sm, bool use_prob,
                                float target, uint32_t hi, float* red) {
  uint32_t lo = 0;
  while (lo < hi) {
    const uint32_t mid = lo + static_cast<uint32_t>((static_cast<uint64_t>(hi) - lo + 1) / 2);
    float mass = 0.f;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
      if (OrderKey(x[i]) >= mid) mass += use_prob ? sm.Prob(x[i]) : 1.f;
    }
    mass = BlockSum(mass, red);
    if (mass >= target) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

__device__ void ApplyTypical(float* x, float* gap, int vocab, float typical_p, float* red) {
  const Softmax sm = BlockSoftmax(x, vocab, red);
  float h = 0.f;
  for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
    const float p = sm.Prob(x[i]);
    if (p > 0.f) h -= p * logf(p);
  }
  h = BlockSum(h, red);
  float max_bits = 0.f;  // bit patterns of non-negative floats order like the floats
  float min_bits = INFINITY;
  for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
    const float p = sm.Prob(x[i]);
    gap[i] = x[i] == -INFINITY ? INFINITY : (p > 0.f ? fabsf(-logf(p) - h) : INFINITY);
    if (x[i] != -INFINITY) {
      max_bits = fmaxf(max_bits, gap[i]);
      min_bits = fminf(min_bits, gap[i]);
    }
  }
  max_bits = BlockMax(max_bits, red);
  min_bits = -BlockMax(-min_bits, red);
  uint32_t lo = __float_as_uint(min_bits);
  uint32_t hi = __float_as_uint(max_bits);
  // Smallest K with mass(gap <= K) >= typical_p.
  while (lo < hi) {
    const uint32_t mid = lo + (hi - lo) / 2;
    float mass = 0.f;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
      if (__float_as_uint(gap[i]) <= mid && gap[i] != INFINITY) mass += sm.Prob(x[i]);
    }
    mass = BlockSum(mass, red);
    if (mass >= typical_p) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
    if (gap[i] == INFINITY || __float_as_uint(gap[i]) > lo) x[i] = -INFINITY;
  }
}

// Walks kept tokens in id order accumulating probabilities; the first whose running sum exceeds
// u * total wins (the last kept token if rounding leaves none). Both sums run sequentially in id
// order in one thread, exactly as the reference adds them: a float32 sum over 150k terms drifts
// by ~1e-4, so any other order would pick a different token near the boundary.
__device__ int Draw(const float* x, float* probs, int vocab, float u, float* red, int* result) {
  const Softmax sm = BlockSoftmax(x, vocab, red);
  for (int i = threadIdx.x; i < vocab; i += blockDim.x) probs[i] = sm.Prob(x[i]);
  __syncthreads();
  if (threadIdx.x == 0) {
    float total = 0.f;
    for (int i = 0; i < vocab; ++i) total += probs[i];
    const float target = u * total;
    float running = 0.f;
    int chosen = -1, last_kept = -1;
    for (int i = 0; i < vocab; ++i) {
      if (x[i] == -INFINITY) continue;
      last_kept = i;
      running += probs[i];
      if (running > target) {
        chosen = i;
        break;
      }
    }
    result[0] = chosen >= 0 ? chosen : last_kept;
  }
  __syncthreads();
  const int token = result[0];
  __syncthreads();
  return token;
}

__global__ void __launch_bounds__(kThreads) SampleKernel(SampleParams p, Scratch scratch) {
  __shared__ float red[32];
  __shared__ float red_v[32];
  __shared__ int red_i[32];
  __shared__ int result[2];
  __shared__ int chosen[kMaxTopN];

  const int r = blockIdx.x;
  const int vocab = p.vocab;
  const SampleRowParams rp = p.row_params[r];
  const size_t offset = static_cast<size_t>(r) * vocab;
  const float* in = p.logits + offset;
  int32_t* counts = scratch.counts + offset;
  const bool repetition = rp.repetition_penalty != 1.f && rp.repetition_penalty > 0.f;
  const bool penalties = repetition || rp.frequency_penalty != 0.f || rp.presence_penalty != 0.f;

  // A plain greedy row (the common decode case) reads the logits once, in place: its token and
  // log-normaliser come from one pass (BlockArgMaxLse) instead of a copy, an arg-max and two
  // softmax passes over the vocabulary. Other rows are processed in a copy.
  const float* xs = in;
  int token;
  float log_norm;
  __shared__ float red_m[32];
  __shared__ float red_s[32];
  if (!rp.sampling && rp.bias_len == 0 && !penalties) {
    const ArgMaxLse am = BlockArgMaxLse(in, vocab, red_v, red_i, red_m, red_s);
    token = am.best_i;
    log_norm = am.max + logf(am.sum);
  } else {
    float* x = scratch.work + offset;
    xs = x;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) x[i] = in[i];
    if (rp.bias_len > 0) {
      __syncthreads();
      // Entries name distinct tokens, so each thread owns the logits it touches.
      for (int j = threadIdx.x; j < rp.bias_len; j += blockDim.x) {
        const int t = p.bias_tokens[rp.bias_offset + j];
        if (t >= 0 && t < vocab) x[t] += p.bias_values[rp.bias_offset + j];
      }
    }
    if (penalties) {
      const int32_t* history = p.history + rp.history_offset;
      __syncthreads();
      for (int j = threadIdx.x; j < rp.history_len; j += blockDim.x) {
        const int t = history[j];
        if (t >= 0 && t < vocab) atomicAdd(&counts[t], 1);
      }
      __syncthreads();
      // The thread that takes a token's count applies its penalties once and leaves the count
      // zeroed for the next call.
      for (int j = threadIdx.x; j < rp.history_len; j += blockDim.x) {
        const int t = history[j];
        if (t < 0 || t >= vocab) continue;
        const int c = atomicExch(&counts[t], 0);
        if (c == 0) continue;
        float v = x[t];
        if (repetition) v = v > 0 ? v / rp.repetition_penalty : v * rp.repetition_penalty;
        v -= rp.frequency_penalty * static_cast<float>(c) + rp.presence_penalty;
        x[t] = v;
      }
    }
    __syncthreads();

    if (!rp.sampling) {
      token = BlockArgMax(x, vocab, chosen, 0, red_v, red_i);
    } else {
      if (rp.temperature != 1.f) {
        for (int i = threadIdx.x; i < vocab; i += blockDim.x) x[i] /= rp.temperature;
      }
      __syncthreads();
      if (rp.top_k > 0 && rp.top_k < static_cast<uint32_t>(vocab)) {
        const int top = BlockArgMax(x, vocab, chosen, 0, red_v, red_i);
        const uint32_t key = BisectUpper(x, vocab, Softmax{}, false, static_cast<float>(rp.top_k),
                                         OrderKey(x[top]), red);
        const float kth = KeyValue(key);
        for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
          if (x[i] < kth) x[i] = -INFINITY;
        }
        __syncthreads();
      }
      if (rp.top_p < 1.f) {
        const Softmax sm = BlockSoftmax(x, vocab, red);
        const int top = BlockArgMax(x, vocab, chosen, 0, red_v, red_i);
        const float thr =
            KeyValue(BisectUpper(x, vocab, sm, true, rp.top_p, OrderKey(x[top]), red));
        for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
          if (x[i] < thr) x[i] = -INFINITY;
        }
        __syncthreads();
      }
      if (rp.typical_p < 1.f) {
        ApplyTypical(x, scratch.aux + offset, vocab, rp.typical_p, red);
        __syncthreads();
      }
      if (rp.min_p > 0.f) {
        const Softmax sm = BlockSoftmax(x, vocab, red);
        const float threshold = rp.min_p * sm.inv_sum;
        for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
          if (sm.Prob(x[i]) < threshold) x[i] = -INFINITY;
        }
        __syncthreads();
      }
      token = Draw(x, scratch.aux + offset, vocab, tg::backend::PhiloxUniform(rp.seed, rp.step),
                   red, result);
    }

    // The log-normaliser of the processed logits.
    const ArgMaxLse processed = BlockArgMaxLse(x, vocab, red_v, red_i, red_m, red_s);
    log_norm = processed.max + logf(processed.sum);
  }
  if (threadIdx.x == 0) {
    p.out_tokens[r] = token;
    p.out_logprobs[r] = xs[token] - log_norm;
  }
  const int n = min(rp.top_n, min(kMaxTopN, vocab));
  for (int k = 0; k < n; ++k) {
    const int best = BlockArgMax(xs, vocab, chosen, k, red_v, red_i);
    if (threadIdx.x == 0) {
      chosen[k] = best;
      p.out_top_tokens[r * kMaxTopN + k] = best;
      p.out_top_logprobs[r * kMaxTopN + k] = xs[best] - log_norm;
    }
    __syncthreads();
  }
}

__global__ void TokenLogprobKernel(TokenLogprobParams p) {
  __shared__ float red[32];
  const int r = blockIdx.x;
  const float* x = p.logits + static_cast<size_t>(r) * p.vocab;
  float m = -INFINITY;
  for (int i = threadIdx.x; i < p.vocab; i += blockDim.x) m = fmaxf(m, x[i]);
  m = BlockMax(m, red);
  float s = 0.f;
  for (int i = threadIdx.x; i < p.vocab; i += blockDim.x) s += expf(x[i] - m);
  s = BlockSum(s, red);
  if (threadIdx.x == 0) p.out[r] = x[p.targets[r]] - (m + logf(s));
}

}  // namespace

size_t SampleScratchZeroedBytes(int rows, int vocab) {
  return static_cast<size_t>(rows) * vocab * sizeof(int32_t);
}

size_t SampleScratchBytes(int rows, int vocab) {
  return static_cast<size_t>(rows) * vocab * (sizeof(int32_t) + 2 * sizeof(float));
}

Status Sample(const SampleParams& p, Stream stream) {
  if (p.rows < 0 || p.vocab <= 0) return Status::kInvalidArgument;
  if (p.rows == 0) return Status::kOk;
  if (!p.logits || !p.row_params || !p.scratch || !p.out_tokens || !p.out_logprobs ||
      !p.out_top_tokens || !p.out_top_logprobs) {
    return Status::kInvalidArgument;
  }
  if (p.scratch_bytes < SampleScratchBytes(p.rows, p.vocab)) return Status::kInvalidArgument;
  SampleKernel<<<p.rows, kThreads, 0, stream>>>(p, SplitScratch(p.scratch, p.rows, p.vocab));
  return kernels::detail::LaunchStatus();
}

Status TokenLogprobs(const TokenLogprobParams& p, Stream stream) {
  if (p.rows < 0 || p.vocab <= 0) return Status::kInvalidArgument;
  if (p.rows == 0) return Status::kOk;
  if (!p.logits || !p.targets || !p.out) return Status::kInvalidArgument;
  TokenLogprobKernel<<<p.rows, 1024, 0, stream>>>(p);
  return kernels::detail::LaunchStatus();
}

}  // namespace tg::backend::cuda
