// Constrained decoding on the device: logits of tokens outside a request's allowed set become
// -inf before sampling (step 0 of shard/backend/sampling.h, the CPU reference).
#pragma once

#include "kernels/common.h"

namespace tg::kernels {

// For row r and token t < vocab: if bit t % 32 of bitmask[r * words + t / 32] is 0,
// logits[r * vocab + t] = -inf. words >= ceil(vocab / 32); a row of all-ones words is left as is.
struct TokenMaskParams {
  float* logits = nullptr;           // [rows, vocab]
  const int32_t* bitmask = nullptr;  // [rows, words]
  int rows = 0;
  int vocab = 0;
  int words = 0;
};
Status ApplyTokenMask(const TokenMaskParams& p, Stream stream);

}  // namespace tg::kernels
