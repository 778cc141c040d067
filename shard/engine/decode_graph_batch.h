// Host-side shaping of decode batches for replayed CUDA graphs (Backend::BeginGraph): which
// captured batch size serves a batch, and the padded ForwardBatch a graph is captured and
// replayed with. A graph bakes in its tensor shapes and launch shapes, so every replay of one
// graph has exactly `bucket` rows and block tables of exactly `max_blocks` columns; padding
// rows write no KV (slot -1, which the CUDA WriteKv skips) and attend to one cached position.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "common/error.h"
#include "shard/engine/forward_batch.h"

namespace tg::shard {

// The smallest captured size >= rows, or -1 when rows exceeds them all (eager then).
// `sizes` ascending.
inline int DecodeGraphBucket(const std::vector<int>& sizes, int rows) {
  auto it = std::lower_bound(sizes.begin(), sizes.end(), rows);
  return it == sizes.end() ? -1 : *it;
}

// Whether the graphs (captured with block tables of `max_blocks` columns) can run `batch`: one
// token per sequence, no wider block table, no longer context.
inline bool FitsDecodeGraph(const ForwardBatch& batch, int max_blocks, int block_size) {
  if (max_blocks <= 0 || batch.max_blocks > max_blocks) return false;
  if (batch.tokens.size() != batch.seq_lens.size()) return false;
  for (int32_t len : batch.seq_lens) {
    if (len > static_cast<int64_t>(max_blocks) * block_size) return false;
  }
  return true;
}

// `batch` (one token per sequence) padded to `bucket` rows and `max_blocks` block-table
// columns; logits for every row (the caller uses the first batch.seq_lens.size()).
inline ForwardBatch PadDecodeBatch(const ForwardBatch& batch, int bucket, int max_blocks) {
  const int rows = static_cast<int>(batch.seq_lens.size());
  TG_CHECK(rows <= bucket && batch.max_blocks <= max_blocks &&
               batch.tokens.size() == static_cast<size_t>(rows) &&
               batch.block_tables.size() == static_cast<size_t>(rows) * batch.max_blocks,
           kInternal, "decode batch does not fit the graph");
  ForwardBatch out;
  out.block_size = batch.block_size;
  out.tokens = batch.tokens;
  out.positions = batch.positions;
  out.slots = batch.slots;
  out.seq_lens = batch.seq_lens;
  out.tokens.resize(bucket, 0);
  out.positions.resize(bucket, 0);
  out.slots.resize(bucket, -1);
  out.seq_lens.resize(bucket, 1);
  out.max_blocks = max_blocks;
  out.block_tables.assign(static_cast<size_t>(bucket) * max_blocks, 0);
  for (int r = 0; r < rows; ++r) {
    std::copy_n(batch.block_tables.begin() + static_cast<size_t>(r) * batch.max_blocks,
                batch.max_blocks, out.block_tables.begin() + static_cast<size_t>(r) * max_blocks);
  }
  out.query_start.resize(bucket + 1);
  out.logit_rows.resize(bucket);
  for (int r = 0; r <= bucket; ++r) out.query_start[r] = r;
  for (int r = 0; r < bucket; ++r) out.logit_rows[r] = r;
  return out;
}

// The batch a graph is captured with: all padding, the first row at the longest context the
// graph serves (the attention launch is sized for it; shorter rows end early at replay).
inline ForwardBatch DecodeGraphCaptureBatch(int bucket, int max_blocks, int block_size) {
  ForwardBatch empty;
  empty.block_size = block_size;
  ForwardBatch out = PadDecodeBatch(empty, bucket, max_blocks);
  out.seq_lens[0] = max_blocks * block_size;
  return out;
}

}  // namespace tg::shard
