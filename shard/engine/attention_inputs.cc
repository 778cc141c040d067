#include "shard/engine/attention_inputs.h"

#include <algorithm>
#include <atomic>
#include <string>

#include "common/error.h"

namespace tg::shard {

backend::Tensor UploadInts(backend::Backend& backend, const std::vector<int32_t>& values) {
  backend::Tensor tensor =
      backend.Allocate(backend::DType::kI32, {static_cast<int64_t>(values.size())});
  backend.CopyFromHost(values.data(), tensor);
  return tensor;
}

namespace {

uint64_t NextForwardId() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1);
}

}  // namespace

AttentionInputs UploadAttentionInputs(const ForwardBatch& batch, const KvPool& pool,
                                      backend::Backend& backend) {
  TG_CHECK(pool.allocated(), kInternal, "KV cache not allocated (Warmup not called)");
  CheckForwardBatchShape(batch);
  TG_CHECK(batch.block_size == pool.block_size(), kInvalidArgument,
           "ForwardBatch of blocks of " + std::to_string(batch.block_size) +
               " tokens over a KV pool of blocks of " + std::to_string(pool.block_size()));
  const int num_seqs = batch.num_seqs();
  const int n = batch.num_tokens();
  AttentionInputs inputs;
  backend::AttentionBatch& attn = inputs.whole;
  attn.num_seqs = num_seqs;
  attn.num_tokens = n;
  attn.block_size = batch.block_size;
  attn.forward_id = NextForwardId();
  for (int s = 0; s < num_seqs; ++s) {
    attn.max_query_len =
        std::max(attn.max_query_len, batch.query_start[s + 1] - batch.query_start[s]);
    attn.max_seq_len = std::max(attn.max_seq_len, batch.seq_lens[s]);
  }
  attn.query_start = UploadInts(backend, batch.query_start);
  attn.seq_lens = UploadInts(backend, batch.seq_lens);
  attn.host_query_start = batch.query_start;
  attn.host_seq_lens = batch.seq_lens;
  attn.block_tables = UploadInts(backend, batch.block_tables).Reshape({num_seqs, batch.max_blocks});
  attn.slots = UploadInts(backend, batch.slots);
  attn.positions = UploadInts(backend, batch.positions);
  inputs.decode = attn.max_query_len == 1;

  int decode_seqs = 0;
  while (!inputs.decode && decode_seqs < num_seqs &&
         batch.query_start[decode_seqs + 1] - batch.query_start[decode_seqs] == 1) {
    ++decode_seqs;
  }
  inputs.decode_seqs = decode_seqs;
  if (decode_seqs == 0) return inputs;
  backend::AttentionBatch& decode_part = inputs.decode_part;
  decode_part = attn;
  decode_part.num_seqs = decode_seqs;
  decode_part.num_tokens = decode_seqs;
  decode_part.max_query_len = 1;
  decode_part.max_seq_len =
      *std::max_element(batch.seq_lens.begin(), batch.seq_lens.begin() + decode_seqs);
  decode_part.query_start = attn.query_start.Rows(0, decode_seqs + 1);
  decode_part.seq_lens = attn.seq_lens.Rows(0, decode_seqs);
  decode_part.block_tables = attn.block_tables.Rows(0, decode_seqs);
  decode_part.host_query_start.resize(decode_seqs + 1);
  decode_part.host_seq_lens.resize(decode_seqs);

  backend::AttentionBatch& chunk_part = inputs.chunk_part;
  chunk_part = attn;
  chunk_part.num_seqs = num_seqs - decode_seqs;
  chunk_part.num_tokens = n - decode_seqs;
  chunk_part.max_seq_len =
      *std::max_element(batch.seq_lens.begin() + decode_seqs, batch.seq_lens.end());
  std::vector<int32_t> chunk_starts(batch.query_start.begin() + decode_seqs,
                                    batch.query_start.end());
  for (int32_t& start : chunk_starts) start -= decode_seqs;
  chunk_part.host_query_start = chunk_starts;
  chunk_part.host_seq_lens.erase(chunk_part.host_seq_lens.begin(),
                                 chunk_part.host_seq_lens.begin() + decode_seqs);
  chunk_part.query_start = UploadInts(backend, chunk_starts);
  chunk_part.seq_lens = attn.seq_lens.Rows(decode_seqs, num_seqs - decode_seqs);
  chunk_part.block_tables = attn.block_tables.Rows(decode_seqs, num_seqs - decode_seqs);
  return inputs;
}

}  // namespace tg::shard
