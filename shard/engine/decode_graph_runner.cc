#include "shard/engine/decode_graph_runner.h"

#include <spdlog/spdlog.h>

#include "common/error.h"
#include "shard/engine/decode_graph_batch.h"

namespace tg::shard {

DecodeGraphRunner::DecodeGraphRunner(Model& model, backend::Backend& backend)
    : model_(model), backend_(backend) {}

void DecodeGraphRunner::Clear() {
  sizes_.clear();
  max_blocks_ = 0;
}

void DecodeGraphRunner::Capture(int max_blocks, int max_batch_size) {
  Clear();
  const std::vector<int> sizes = backend_.GraphBatchSizes();
  if (sizes.empty()) return;
  const int block_size = model_.kv_pool().block_size();
  for (int size : sizes) {
    const ForwardBatch batch = DecodeGraphCaptureBatch(size, max_blocks, block_size);
    try {
      // Eagerly first: the backend sizes its scratch buffers outside the capture.
      model_.Forward(batch);
      backend_.Synchronize();
      if (!backend_.BeginGraph(size, backend::Backend::GraphMode::kCapture)) continue;
      try {
        model_.Forward(batch);
      } catch (...) {
        backend_.EndGraph(false);
        throw;
      }
      backend_.EndGraph(true);
      sizes_.push_back(size);
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::kDeviceLost) throw;
      spdlog::warn("decode graph of batch size {} not captured (runs eagerly): {}", size, e.what());
    }
    if (max_batch_size > 0 && size >= max_batch_size) break;
  }
  max_blocks_ = sizes_.empty() ? 0 : max_blocks;
  if (!sizes_.empty()) {
    spdlog::info("decode graphs captured for {} batch sizes up to {}, contexts up to {} tokens",
                 sizes_.size(), sizes_.back(), max_blocks * block_size);
  }
}

std::optional<backend::Tensor> DecodeGraphRunner::Forward(const ForwardBatch& batch) {
  const int rows = static_cast<int>(batch.seq_lens.size());
  const int bucket = DecodeGraphBucket(sizes_, rows);
  if (bucket < 0 || !FitsDecodeGraph(batch, max_blocks_, model_.kv_pool().block_size()))
    return std::nullopt;
  const ForwardBatch padded = PadDecodeBatch(batch, bucket, max_blocks_);
  if (!backend_.BeginGraph(bucket, backend::Backend::GraphMode::kReplay)) return std::nullopt;
  backend::Tensor logits;
  try {
    logits = model_.Forward(padded);
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::kDeviceLost) throw;
    backend_.EndGraph(false);
    spdlog::error("decode graph replay failed, graphs disabled: {}", e.what());
    Clear();
    return std::nullopt;
  }
  backend_.EndGraph(true);
  return logits.Rows(0, rows);
}

}  // namespace tg::shard
