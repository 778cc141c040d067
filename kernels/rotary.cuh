// The rotation of one element pair of a head (elementwise.h's Rotary contract) and its parameter
// checks, for the Rotary kernel. Internal to kernels/.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>

#include "kernels/device_utils.cuh"
#include "kernels/elementwise.h"

namespace tg::kernels::detail {

// Parameter checks of Rotary: kInvalidArgument, or kOk (then an empty launch is a no-op when
// num_tokens or the head count is 0).
inline Status CheckRotary(const RotaryParams& p) {
  if (p.num_tokens < 0 || p.head_dim <= 0 || p.rotary_dim <= 0 || p.rotary_dim > p.head_dim ||
      p.rotary_dim % 2 != 0 || p.num_q_heads < 0 || p.num_kv_heads < 0 ||
      p.q_stride < p.num_q_heads * p.head_dim || p.k_stride < p.num_kv_heads * p.head_dim ||
      p.num_q_heads + p.num_kv_heads > 65535) {
    return Status::kInvalidArgument;
  }
  if (p.num_tokens == 0 || p.num_q_heads + p.num_kv_heads == 0) return Status::kOk;
  if (!p.positions || !p.inv_freq || (p.num_q_heads > 0 && !p.q) || (p.num_kv_heads > 0 && !p.k)) {
    return Status::kInvalidArgument;
  }
  return Status::kOk;
}

// The launch of a kernel with one block per (token, group of heads) whose threads walk
// (head, element pair): about two blocks per SM in all, so few tokens (decode) split the heads
// over enough blocks to fill the GPU and many (prefill) keep a token's heads in one block,
// computing each angle once per token. `pairs_per_head` element pairs of each of `heads` heads.
struct RotaryLaunch {
  dim3 grid;
  int threads = 0;
  int heads_per_block = 0;
};
inline RotaryLaunch RotaryLaunchFor(int num_tokens, int heads, int pairs_per_head) {
  const int groups =
      std::clamp(2 * DeviceMultiprocessors() / std::max(num_tokens, 1), 1, std::max(heads, 1));
  RotaryLaunch launch;
  launch.heads_per_block = (heads + groups - 1) / groups;
  launch.grid = dim3(num_tokens, (heads + launch.heads_per_block - 1) / launch.heads_per_block);
  launch.threads = std::min(256, (launch.heads_per_block * pairs_per_head + 31) / 32 * 32);
  return launch;
}

// Rotates pair i (of rotary_dim / 2) of `head` in place by the angle whose cosine and sine are
// c and s (of positions[t] * inv_freq[i], computed once per token and pair).
__device__ __forceinline__ void RotatePair(const RotaryParams& p, float* head, int i, float c,
                                           float s) {
  const int half = p.rotary_dim / 2;
  const int a = p.neox_style ? i : 2 * i;
  const int b = p.neox_style ? i + half : 2 * i + 1;
  const float x = head[a];
  const float y = head[b];
  head[a] = x * c - y * s;
  head[b] = y * c + x * s;
}

}  // namespace tg::kernels::detail
