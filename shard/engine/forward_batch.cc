#include "shard/engine/forward_batch.h"

#include <algorithm>
#include <limits>
#include <string>

#include "common/error.h"

namespace tg::shard {

void CheckForwardBatchShape(const ForwardBatch& batch) {
  const int64_t tokens = batch.num_tokens(), seqs = batch.num_seqs();
  TG_CHECK(tokens > 0 && seqs > 0, kInvalidArgument, "ForwardBatch has no tokens or no sequence");
  TG_CHECK(
      batch.positions.size() == batch.tokens.size() && batch.slots.size() == batch.tokens.size(),
      kInvalidArgument,
      "ForwardBatch has " + std::to_string(tokens) + " tokens but " +
          std::to_string(batch.positions.size()) + " positions and " +
          std::to_string(batch.slots.size()) + " slots");
  TG_CHECK(static_cast<int64_t>(batch.query_start.size()) == seqs + 1 &&
               batch.query_start.front() == 0 && batch.query_start.back() == tokens,
           kInvalidArgument,
           "ForwardBatch query starts must run from 0 to its " + std::to_string(tokens) +
               " tokens over " + std::to_string(seqs) + " sequences");
  TG_CHECK(batch.block_size > 0 && batch.max_blocks > 0 &&
               static_cast<int64_t>(batch.block_tables.size()) == seqs * batch.max_blocks,
           kInvalidArgument,
           "ForwardBatch block tables must be " + std::to_string(seqs) + " rows of max_blocks " +
               std::to_string(batch.max_blocks) + " >= 1 blocks of block_size " +
               std::to_string(batch.block_size) + " > 0 (has " +
               std::to_string(batch.block_tables.size()) + " entries)");
  const int64_t table_tokens = static_cast<int64_t>(batch.max_blocks) * batch.block_size;
  for (int64_t s = 0; s < seqs; ++s) {
    const int64_t new_tokens = batch.query_start[s + 1] - batch.query_start[s];
    TG_CHECK(new_tokens > 0, kInvalidArgument,
             "ForwardBatch sequence " + std::to_string(s) + " has no new token");
    TG_CHECK(batch.seq_lens[s] >= new_tokens && batch.seq_lens[s] <= table_tokens, kInvalidArgument,
             "ForwardBatch sequence " + std::to_string(s) + " has KV length " +
                 std::to_string(batch.seq_lens[s]) + ": fewer than its " +
                 std::to_string(new_tokens) + " new tokens, or more than its " +
                 std::to_string(batch.max_blocks) + " blocks hold");
  }
  TG_CHECK(!batch.logit_rows.empty(), kInvalidArgument, "ForwardBatch asks for no logits row");
  for (int32_t row : batch.logit_rows) {
    TG_CHECK(row >= 0 && row < tokens, kInvalidArgument,
             "ForwardBatch logits row " + std::to_string(row) + " is not one of its " +
                 std::to_string(tokens) + " token rows");
  }
}

ForwardBatchBuilder::ForwardBatchBuilder(int block_size, int num_blocks) : num_blocks_(num_blocks) {
  TG_CHECK(block_size > 0 && num_blocks > 0, kInvalidArgument,
           "a ForwardBatch needs an allocated KV pool (has " + std::to_string(num_blocks) +
               " blocks of " + std::to_string(block_size) + " tokens; Warmup not called?)");
  batch_.block_size = block_size;
  batch_.query_start.push_back(0);
}

ForwardBatchBuilder::ForwardBatchBuilder(const KvPool& pool)
    : ForwardBatchBuilder(pool.block_size(), pool.num_blocks()) {}

ForwardBatchBuilder& ForwardBatchBuilder::AddSequence(std::span<const int32_t> tokens,
                                                      int first_position,
                                                      std::span<const uint32_t> blocks) {
  const int64_t block_size = batch_.block_size;
  const int64_t end = static_cast<int64_t>(first_position) + static_cast<int64_t>(tokens.size());
  TG_CHECK(!tokens.empty(), kInvalidArgument, "a ForwardBatch sequence needs a new token");
  TG_CHECK(first_position >= 0, kInvalidArgument,
           "ForwardBatch sequence at negative position " + std::to_string(first_position));
  TG_CHECK(end <= std::numeric_limits<int32_t>::max() &&
               batch_.tokens.size() + tokens.size() <=
                   static_cast<size_t>(std::numeric_limits<int32_t>::max()),
           kInvalidArgument, "ForwardBatch past int32 positions or token rows");
  const int64_t needed = (end + block_size - 1) / block_size;
  TG_CHECK(static_cast<int64_t>(blocks.size()) >= needed, kInvalidArgument,
           "ForwardBatch sequence of " + std::to_string(end) + " positions needs " +
               std::to_string(needed) + " blocks of " + std::to_string(block_size) +
               " tokens, has " + std::to_string(blocks.size()));
  for (uint32_t block : blocks) {
    TG_CHECK(block < static_cast<uint32_t>(num_blocks_), kInvalidArgument,
             "ForwardBatch block " + std::to_string(block) + " outside the pool of " +
                 std::to_string(num_blocks_) + " blocks");
  }
  for (size_t i = 0; i < tokens.size(); ++i) {
    const int64_t position = first_position + static_cast<int64_t>(i);
    batch_.tokens.push_back(tokens[i]);
    batch_.positions.push_back(static_cast<int32_t>(position));
    batch_.slots.push_back(
        static_cast<int32_t>(blocks[position / block_size] * block_size + position % block_size));
  }
  batch_.query_start.push_back(batch_.num_tokens());
  batch_.seq_lens.push_back(static_cast<int32_t>(end));
  table_blocks_.insert(table_blocks_.end(), blocks.begin(), blocks.end());
  table_starts_.push_back(table_blocks_.size());
  return *this;
}

ForwardBatchBuilder& ForwardBatchBuilder::AddLogitRow(int row) {
  batch_.logit_rows.push_back(row);
  return *this;
}

ForwardBatch ForwardBatchBuilder::Build() {
  const size_t seqs = batch_.seq_lens.size();
  TG_CHECK(seqs > 0, kInvalidArgument, "a ForwardBatch needs a sequence");
  TG_CHECK(!batch_.logit_rows.empty(), kInvalidArgument, "a ForwardBatch needs a logits row");
  for (int32_t row : batch_.logit_rows) {
    TG_CHECK(row >= 0 && row < batch_.num_tokens(), kInvalidArgument,
             "ForwardBatch logits row " + std::to_string(row) + " is not one of its " +
                 std::to_string(batch_.num_tokens()) + " token rows");
  }
  size_t max_blocks = 1;
  for (size_t s = 0; s < seqs; ++s) {
    max_blocks = std::max(max_blocks, table_starts_[s + 1] - table_starts_[s]);
  }
  batch_.max_blocks = static_cast<int>(max_blocks);
  batch_.block_tables.assign(seqs * max_blocks, 0);
  for (size_t s = 0; s < seqs; ++s) {
    std::copy(table_blocks_.begin() + table_starts_[s],
              table_blocks_.begin() + table_starts_[s + 1],
              batch_.block_tables.begin() + s * max_blocks);
  }
  ForwardBatch out = std::move(batch_);
  batch_ = ForwardBatch();
  batch_.block_size = out.block_size;
  batch_.query_start.push_back(0);
  table_blocks_.clear();
  table_starts_.resize(1);
  return out;
}

}  // namespace tg::shard
