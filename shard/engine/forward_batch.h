// The batch of one forward pass, apart from any one model (SGLang's ForwardBatch, llama.cpp's
// llama_batch): a ragged batch in which every sequence contributes its new tokens, in order, and
// reads and writes the paged KV pool (kv_pool.h) through its block table.
//
// ForwardBatchBuilder is how a batch is made: it takes each sequence's new tokens, first position
// and blocks, derives positions, slots, query starts, KV lengths and the padded block tables,
// and refuses what a model would read wrongly. The padded decode-graph batches
// (decode_graph_batch.h) are the one other source; they keep the shape invariants
// (CheckForwardBatchShape) that every model's Forward checks.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "shard/engine/kv_pool.h"

namespace tg::shard {

struct ForwardBatch {
  std::vector<int32_t> tokens;        // [num_tokens]
  std::vector<int32_t> positions;     // [num_tokens]
  std::vector<int32_t> slots;         // [num_tokens] cache slot of each token; -1 writes no K/V
  std::vector<int32_t> query_start;   // [num_seqs + 1]: first token row of each sequence
  std::vector<int32_t> seq_lens;      // [num_seqs] KV length after this step
  std::vector<int32_t> block_tables;  // [num_seqs * max_blocks], row-major, padded with block 0
  int max_blocks = 0;
  int block_size = 0;  // tokens per block: the pool's
  // Which token rows need logits (e.g. the last token of each sequence), in output order.
  std::vector<int32_t> logit_rows;

  int num_seqs() const { return static_cast<int>(seq_lens.size()); }
  int num_tokens() const { return static_cast<int>(tokens.size()); }
};

// Checks, in O(sequences + logit rows), the shape every Forward relies on: tokens, positions and
// slots of one length; query starts from 0, rising by at least one token per sequence, up to
// that length; each KV length at least its sequence's new tokens and within its block-table row;
// a table of num_seqs rows of max_blocks >= 1 blocks; at least one logit row, each a token row.
// Throws tg::Error(kInvalidArgument) naming the first violation.
void CheckForwardBatchShape(const ForwardBatch& batch);

class ForwardBatchBuilder {
 public:
  // Batches over a pool of `num_blocks` blocks of `block_size` tokens; throws kInvalidArgument
  // for an empty pool.
  ForwardBatchBuilder(int block_size, int num_blocks);
  explicit ForwardBatchBuilder(const KvPool& pool);

  // Appends a sequence whose new tokens `tokens` sit at positions first_position,
  // first_position + 1, ...: its K/V length after the step is first_position + tokens.size(), the
  // positions before first_position are already in the cache. `blocks` is its block table (its
  // logical block i is pool block blocks[i]) and must cover every position up to the last new
  // one; each token's slot is derived from it. Throws kInvalidArgument, and adds nothing, for no
  // tokens, a negative first position, a block outside the pool or a table too short.
  ForwardBatchBuilder& AddSequence(std::span<const int32_t> tokens, int first_position,
                                   std::span<const uint32_t> blocks);
  // Asks for the logits of token row `row` (rows number the tokens of every sequence, in the
  // order they were added); Forward returns one logits row per call, in call order. Checked by
  // Build.
  ForwardBatchBuilder& AddLogitRow(int row);

  int num_seqs() const { return batch_.num_seqs(); }
  int num_tokens() const { return batch_.num_tokens(); }

  // The batch, with block tables padded to the longest (at least one block); the builder is
  // empty afterwards. Throws kInvalidArgument for no sequence, no logit row, or a logit row that
  // is not a token row.
  ForwardBatch Build();

 private:
  int num_blocks_;
  ForwardBatch batch_;
  // Every sequence's block table, unpadded and back to back: sequence s owns
  // table_blocks_[table_starts_[s], table_starts_[s + 1]).
  std::vector<int32_t> table_blocks_;
  std::vector<size_t> table_starts_ = {0};
};

}  // namespace tg::shard
