// Rotary embeddings fused with the KV-cache write of a decode/prefill step (attention.h): one
// block per (token, head) rotates a q head, or rotates a k head and stores it, and its v head,
// into the token's cache slot; saving one launch and a re-read of k per layer.
#include <algorithm>

#include "kernels/attention.h"
#include "kernels/attention_common.cuh"
#include "kernels/rotary.cuh"

namespace tg::kernels {
namespace {

template <typename T>
__global__ void RotaryWriteKvKernel(RotaryParams r, KvCacheWriteParams kv) {
  const int t = blockIdx.x;
  const int h = blockIdx.y;
  const float pos = static_cast<float>(r.positions[t]);
  if (h < r.num_q_heads) {
    float* head = r.q + static_cast<size_t>(t) * r.q_stride + static_cast<size_t>(h) * r.head_dim;
    for (int i = threadIdx.x; i < r.rotary_dim / 2; i += blockDim.x) {
      int a, b;
      detail::RotatePair(r, head, pos, i, &a, &b);
    }
    return;
  }
  const int kvh = h - r.num_q_heads;
  float* head = r.k + static_cast<size_t>(t) * r.k_stride + static_cast<size_t>(kvh) * r.head_dim;
  const int slot = kv.slots[t];  // negative: padding, rotated but not stored
  const size_t row = (static_cast<size_t>(slot < 0 ? 0 : slot) * kv.num_kv_heads + kvh) *
                     static_cast<size_t>(kv.head_dim);
  T* kc = static_cast<T*>(kv.k_cache) + row;
  T* vc = static_cast<T*>(kv.v_cache) + row;
  // Each thread stores the elements it rotated itself: no barrier needed.
  for (int i = threadIdx.x; i < r.rotary_dim / 2; i += blockDim.x) {
    int a, b;
    detail::RotatePair(r, head, pos, i, &a, &b);
    if (slot >= 0) {
      kc[a] = detail::FromFloat<T>(head[a]);
      kc[b] = detail::FromFloat<T>(head[b]);
    }
  }
  if (slot < 0) return;
  for (int i = r.rotary_dim + threadIdx.x; i < r.head_dim; i += blockDim.x) {
    kc[i] = detail::FromFloat<T>(head[i]);
  }
  const float* v =
      kv.v + static_cast<size_t>(t) * kv.v_stride + static_cast<size_t>(kvh) * kv.head_dim;
  for (int i = threadIdx.x; i < kv.head_dim; i += blockDim.x) vc[i] = detail::FromFloat<T>(v[i]);
}

}  // namespace

Status RotaryWriteKvCache(const RotaryParams& r, const KvCacheWriteParams& kv, Stream stream) {
  if (const Status status = detail::CheckRotary(r); status != Status::kOk) return status;
  if (const Status status = detail::CheckKvCacheWrite(kv); status != Status::kOk) return status;
  if (r.num_tokens != kv.num_tokens || r.num_kv_heads != kv.num_kv_heads ||
      r.head_dim != kv.head_dim || r.k != kv.k || r.k_stride != kv.k_stride) {
    return Status::kInvalidArgument;
  }
  if (r.num_tokens == 0) return Status::kOk;
  const dim3 grid(r.num_tokens, r.num_q_heads + r.num_kv_heads);
  const int threads = std::min(128, std::max(32, r.head_dim / 2));
  return DispatchDType(kv.dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    RotaryWriteKvKernel<T><<<grid, threads, 0, stream>>>(r, kv);
    return detail::LaunchStatus();
  });
}

}  // namespace tg::kernels
