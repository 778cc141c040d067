// The CPU reference backend: plain, readable float32 implementations of the Backend ops, with the
// matrix products vectorised (dot_kernels.h) and every op spread over a persistent thread pool.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "common/error.h"
#include "shard/backend/backend.h"
#include "shard/backend/cpu/host_arena.h"
#include "shard/backend/cpu/thread_pool.h"

namespace tg::backend::cpu {

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(const BackendOptions& options);

  DeviceKind device() const override { return DeviceKind::kCpu; }
  std::string DeviceName() const override;
  uint64_t FreeMemoryBytes() const override;
  Tensor Allocate(DType dtype, std::vector<int64_t> shape) override;
  void CopyFromHost(const void* src, Tensor& dst) override;
  void CopyToHost(const Tensor& src, void* dst) override;
  // Every op has finished when it returns; what follows is host work (sampling, the reply),
  // so the pool's workers stop spinning.
  void Synchronize() override { pool_.Park(); }
  DType KvDType() const override { return DType::kF32; }
  // The CPU has no context to poison: this only raises what a fatal device fault raises.
  void InjectDeviceFault() override {
    throw Error(ErrorKind::kDeviceLost, "InjectDeviceFault: injected fatal CPU backend error");
  }
  bool ComputesOnBlocks(DType dtype) const override;

  void Embedding(const Tensor& table, const Tensor& ids, Tensor& out) override;
  void RmsNorm(const Tensor& input, Tensor* residual, const Tensor& weight, float eps,
               Tensor& out) override;
  void Linear(const Tensor& x, const Tensor& weight, const Tensor* bias, Tensor& out) override;
  void Rotary(Tensor& q, Tensor& k, const Tensor& positions, const Tensor& inv_freq) override;
  void WriteKv(const Tensor& k, const Tensor& v, const Tensor& slots, Tensor& k_cache,
               Tensor& v_cache) override;
  void PrefillAttention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                        const AttentionBatch& batch, float scale, Tensor& out) override;
  void DecodeAttention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                       const AttentionBatch& batch, float scale, Tensor& out) override;
  void SplitColumns(const Tensor& input, std::span<Tensor* const> outs) override;
  void SiluAndMul(const Tensor& gate_up, Tensor& out) override;
  std::vector<SampleResult> Sample(const Tensor& logits,
                                   std::span<const SampleRequest> requests) override;
  std::vector<float> TokenLogprobs(const Tensor& logits, std::span<const int32_t> targets) override;

  int threads() const { return pool_.size(); }

 private:
  // Linear on GGML block weights: x quantized to int8 blocks, then one pass over the weights.
  void LinearOnBlocks(const Tensor& x, const Tensor& weight, const float* bias, int64_t rows,
                      Tensor& out);

  ThreadPool pool_;
  std::shared_ptr<HostArena> arena_;
  // LinearOnBlocks' quantized activations, reused across calls (ops run one at a time).
  std::vector<int8_t> x_codes_;
  std::vector<float> x_scales_;
  std::vector<int32_t> x_sums_;
};

}  // namespace tg::backend::cpu
