// A ForwardBatch on the device, as the attention ops read it (SGLang's forward metadata): the
// whole batch as one AttentionBatch and, for a mixed step, its decode part and its chunk part,
// each carrying its own slice of the host lengths (AttentionBatch::HasHostLengths). Written once
// here for every model.
#pragma once

#include <cstdint>
#include <vector>

#include "shard/backend/backend.h"
#include "shard/engine/forward_batch.h"
#include "shard/engine/kv_pool.h"

namespace tg::shard {

struct AttentionInputs {
  backend::AttentionBatch whole;
  // Every sequence has one new token: the decode attention kernel serves the whole batch.
  bool decode = false;
  // A mixed step (decodes first, then prompt chunks): the leading one-token sequences go through
  // the decode kernel, which splits long contexts across blocks, and only the chunks through the
  // prefill kernel, whose grid is sized by the longest chunk. 0 when the step is not mixed.
  int decode_seqs = 0;
  backend::AttentionBatch decode_part, chunk_part;  // defined when decode_seqs > 0
};

// Int32 values copied into a new device tensor [values.size()].
backend::Tensor UploadInts(backend::Backend& backend, const std::vector<int32_t>& values);

// Uploads `batch`'s attention inputs for a forward over `pool`. Throws kInternal when the pool
// is not allocated, kInvalidArgument when the batch's shape does not hold
// (CheckForwardBatchShape) or its block size is not the pool's.
AttentionInputs UploadAttentionInputs(const ForwardBatch& batch, const KvPool& pool,
                                      backend::Backend& backend);

}  // namespace tg::shard
