// RotaryKvWrite (attention.h): rotary on q and k, and the rotated k and v scattered into the
// paged caches, in one pass over the step's new rows. Apart, the two kernels cost a launch and a
// read of k and v a layer; at batch 1 that launch is a third of what the pair takes.
#include <algorithm>

#include "kernels/attention.h"
#include "kernels/attention_common.cuh"
#include "kernels/dependent_launch.cuh"
#include "kernels/device_utils.cuh"
#include "kernels/rotary.cuh"

namespace tg::kernels {
namespace {

using detail::FromFloat;

// One block per (token, group of heads), as the Rotary kernel: the token's angles are computed
// once into shared memory. Heads are numbered q [0, hq), k [hq, hq + hk), v [hq + hk, hq + 2hk);
// thread j of a head owns element pair j of head_dim / 2: pairs below rotary_dim / 2 are the
// rotated ones (RotatePair's elements), the rest pass through (elements rotary_dim + 2 (j -
// half) and the next). q and k are rotated in place (the contract of Rotary); k and v rows go
// to the cache when the token's slot is not negative.
template <typename T>
__global__ void RotaryKvWriteKernel(RotaryParams p, KvCacheWriteParams w, int heads_per_block) {
  detail::WaitForPriorKernels();  // a decode-step kernel: launched as a dependent
  detail::AllowDependentLaunch();
  extern __shared__ float angles[];  // [half] cosines, then [half] sines
  const int t = blockIdx.x;
  const int half = p.rotary_dim / 2;
  const int pairs = p.head_dim / 2;
  const float pos = static_cast<float>(p.positions[t]);
  for (int i = threadIdx.x; i < half; i += blockDim.x) {
    sincosf(pos * p.inv_freq[i], &angles[half + i], &angles[i]);
  }
  __syncthreads();
  const int slot = w.slots[t];
  const size_t width = static_cast<size_t>(w.num_kv_heads) * w.head_dim;
  const int rotated_heads = p.num_q_heads + p.num_kv_heads;
  const int first = blockIdx.y * heads_per_block;
  const int heads = min(heads_per_block, rotated_heads + p.num_kv_heads - first);
  for (int j = threadIdx.x; j < heads * pairs; j += blockDim.x) {
    const int h = first + j / pairs;
    const int i = j % pairs;
    if (h < p.num_q_heads) {
      if (i < half) {
        float* head =
            p.q + static_cast<size_t>(t) * p.q_stride + static_cast<size_t>(h) * p.head_dim;
        detail::RotatePair(p, head, i, angles[i], angles[half + i]);
      }
      continue;
    }
    const bool is_k = h < rotated_heads;
    const int kv_head = is_k ? h - p.num_q_heads : h - rotated_heads;
    const float* row = nullptr;
    int a = 2 * i, b = 2 * i + 1;  // v: every pair as it is
    if (is_k) {
      float* k =
          p.k + static_cast<size_t>(t) * p.k_stride + static_cast<size_t>(kv_head) * p.head_dim;
      if (i < half) {
        detail::RotatePair(p, k, i, angles[i], angles[half + i]);
        a = p.neox_style ? i : 2 * i;
        b = p.neox_style ? i + half : 2 * i + 1;
      } else {
        a = p.rotary_dim + 2 * (i - half);
        b = a + 1;
      }
      row = k;
    } else {
      row = w.v + static_cast<size_t>(t) * w.v_stride + static_cast<size_t>(kv_head) * p.head_dim;
    }
    if (slot < 0) continue;
    T* cache = static_cast<T*>(is_k ? w.k_cache : w.v_cache) + static_cast<size_t>(slot) * width +
               static_cast<size_t>(kv_head) * p.head_dim;
    cache[a] = FromFloat<T>(row[a]);
    cache[b] = FromFloat<T>(row[b]);
  }
}

}  // namespace

Status RotaryKvWrite(const RotaryParams& rotary, const KvCacheWriteParams& write, Stream stream) {
  if (const Status status = detail::CheckRotary(rotary); status != Status::kOk) return status;
  if (const Status status = detail::CheckKvCacheWrite(write); status != Status::kOk) return status;
  // One set of rows: the k that is rotated is the k that is written, and the head shapes agree.
  if (rotary.k != write.k || rotary.k_stride != write.k_stride ||
      rotary.num_tokens != write.num_tokens || rotary.num_kv_heads != write.num_kv_heads ||
      rotary.head_dim != write.head_dim || rotary.head_dim % 2 != 0 ||
      rotary.num_q_heads + 2 * rotary.num_kv_heads > 65535) {
    return Status::kInvalidArgument;
  }
  if (rotary.num_tokens == 0) return Status::kOk;
  // The v heads are copied by the same walk (their pairs pass through).
  const detail::RotaryLaunch launch = detail::RotaryLaunchFor(
      rotary.num_tokens, rotary.num_q_heads + 2 * rotary.num_kv_heads, rotary.head_dim / 2);
  const size_t smem = rotary.rotary_dim * sizeof(float);
  return DispatchDType(write.dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    return detail::LaunchDependent(RotaryKvWriteKernel<T>, launch.grid, launch.threads, smem,
                                   stream, rotary, write, launch.heads_per_block);
  });
}

}  // namespace tg::kernels
