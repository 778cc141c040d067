#include "shard/backend/cuda/cuda_backend.h"

#include <cuda_runtime.h>
#include <nccl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/error.h"
#include "kernels/attention.h"
#include "kernels/elementwise.h"
#include "kernels/fault_injection.h"
#include "kernels/gemm.h"
#include "kernels/prefill_hopper.h"
#include "kernels/token_mask.h"
#include "shard/backend/cuda/cuda_check.h"
#include "shard/backend/cuda/decode_graphs.h"
#include "shard/backend/cuda/device_buffer.h"
#include "shard/backend/cuda/device_sampling.h"
#include "shard/backend/cuda/memory_plan.h"
#include "shard/backend/kv_cache_dtype.h"

namespace tg::backend {
namespace cuda {
namespace {

kernels::DType ToKernel(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return kernels::DType::kFloat32;
    case DType::kBF16:
      return kernels::DType::kBFloat16;
    case DType::kF16:
      return kernels::DType::kFloat16;
    case DType::kI32:
    case DType::kQ8_0:
    case DType::kQ4_0:
    case DType::kQ4_1:
      break;
  }
  throw Error(ErrorKind::kUnsupported, std::string("dtype ") + ToString(dtype) + " in a float op");
}

// The errors carry the caller's file and line (std::source_location), not these helpers'.
void Expect(bool ok, const std::string& message,
            std::source_location where = std::source_location::current()) {
  if (!ok) throw Error(ErrorKind::kInvalidArgument, message, where);
}

void ExpectDType(const Tensor& t, DType dtype, const char* name,
                 std::source_location where = std::source_location::current()) {
  if (t.dtype() == dtype) return;  // the message is only built on failure (hot path)
  throw Error(ErrorKind::kInvalidArgument,
              std::string(name) + " must be " + ToString(dtype) + ", got " + t.DebugString(),
              where);
}

// Activations are float32, or 16-bit rows where a kernel writes or reads the dtype of the GEMM
// beside it (ActivationDType, GateUpDType); anything else fails as ExpectDType(float32) would.
void ExpectActivationDType(const Tensor& t, const char* name,
                           std::source_location where = std::source_location::current()) {
  if (t.dtype() == DType::kBF16 || t.dtype() == DType::kF16) return;
  ExpectDType(t, DType::kF32, name, where);
}

int AsInt(int64_t v) { return static_cast<int>(v); }

// Pinned bytes for the inputs of one decode graph (ids, positions, slots, block tables...):
// 256 sequences of 16k blocks each fit.
constexpr size_t kGraphStagingBytes = 16u << 20;

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(const BackendOptions& options)
      : device_(options.device_id),
        kv_dtype_(ResolveKvCacheDType(DeviceKind::kCuda, options.kv_cache_dtype)),
        utilization_(options.memory_utilization),
        graph_sizes_(options.cuda_graph_batch_sizes) {
    std::sort(graph_sizes_.begin(), graph_sizes_.end());
    graph_sizes_.erase(std::unique(graph_sizes_.begin(), graph_sizes_.end()), graph_sizes_.end());
    std::erase_if(graph_sizes_, [](int size) { return size <= 0; });
    CheckCuda(cudaSetDevice(device_), "cudaSetDevice");
    cudaDeviceProp props{};
    CheckCuda(cudaGetDeviceProperties(&props, device_), "cudaGetDeviceProperties");
    name_ = props.name;
    cudaStream_t stream = nullptr;
    CheckCuda(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate");
    pool_ = std::make_shared<StreamPool>(device_, stream);
    gemm_ = kernels::GemmContext::Create();
    TG_CHECK(gemm_ != nullptr, kUnavailable, "cuBLASLt could not be initialised");
    graphs_ = std::make_unique<DecodeGraphs>(stream, kGraphStagingBytes);
    // Allocated once and never grown: graphs may bake it in.
    gemm_workspace_ = Scratch(kernels::kGemmWorkspaceBytes);
  }

  ~CudaBackend() override {
    cudaStreamSynchronize(stream());
    graphs_.reset();
  }

  DeviceKind device() const override { return DeviceKind::kCuda; }
  std::string DeviceName() const override { return name_; }
  uint64_t FreeMemoryBytes() const override {
    size_t free = 0, total = 0;
    CheckCuda(cudaMemGetInfo(&free, &total), "cudaMemGetInfo");
    return free;
  }
  DType KvDType() const override { return kv_dtype_; }
  // bf16 in front of a bf16 o_proj, in every step: the prefill kernels write bf16 rows in place
  // (FlashInfer's natively), FlashInfer's decode has a bf16-output instantiation, and both the
  // skinny kernel and cuBLASLt read bf16 rows as they are, where float32 would cost a rounding
  // pass before every cuBLASLt o_proj (ncu, batch-64 decode step: 2.9 us a layer).
  DType AttentionOutDType(const AttentionBatch& /*batch*/, DType weight_dtype) const override {
    return weight_dtype == DType::kBF16 ? DType::kBF16 : DType::kF32;
  }
  // 16-bit rows for 16-bit weights: the skinny kernel and cuBLASLt both read them as they are.
  DType ActivationDType(DType weight_dtype) const override {
    return weight_dtype == DType::kBF16 || weight_dtype == DType::kF16 ? weight_dtype : DType::kF32;
  }
  // 16-bit gate|up rows past kSkinnyGatedMaxRows, where SiluAndMul runs apart from the down
  // projection: cuBLASLt writes them and SiluAndMul reads them at half the bytes (ncu, 4096-token
  // prefill: SiluAndMul over float32 rows took 200 us a layer, 7% of the step). Up to that many
  // rows SiluAndMulLinear may fuse SiLU into the skinny down projection, which reads float32.
  DType GateUpDType(DType weight_dtype, int64_t rows) const override {
    return rows > kernels::kSkinnyGatedMaxRows ? ActivationDType(weight_dtype) : DType::kF32;
  }
  void* NativeStream() override { return static_cast<void*>(stream()); }

  void ResetPeakMemory() override {
    Synchronize();
    uint64_t zero = 0;
    CheckCuda(cudaMemPoolSetAttribute(Pool(), cudaMemPoolAttrUsedMemHigh, &zero),
              "cudaMemPoolSetAttribute UsedMemHigh");
  }

  int64_t PlanKvBlocks(uint64_t bytes_per_block, uint64_t freed_bytes) override {
    Synchronize();
    uint64_t used_high = 0, reserved = 0;
    CheckCuda(cudaMemPoolGetAttribute(Pool(), cudaMemPoolAttrUsedMemHigh, &used_high),
              "cudaMemPoolGetAttribute");
    CheckCuda(cudaMemPoolGetAttribute(Pool(), cudaMemPoolAttrReservedMemCurrent, &reserved),
              "cudaMemPoolGetAttribute");
    size_t free = 0, total = 0;
    CheckCuda(cudaMemGetInfo(&free, &total), "cudaMemGetInfo");
    // Outside the pool: the context, cuBLASLt, graph memory. The pool keeps freed memory
    // reserved, so its part of the peak is the high-water mark of memory actually in use.
    const uint64_t in_use = total - free;
    const uint64_t outside_pool = in_use > reserved ? in_use - reserved : 0;
    const uint64_t pool_peak = used_high - std::min(used_high, freed_bytes);
    MemoryPlanInput input;
    input.total_bytes = total;
    input.peak_used_bytes = outside_pool + pool_peak;
    input.utilization = utilization_;
    input.kv_bytes_per_block = bytes_per_block;
    const MemoryPlan plan = PlanKvCache(input);
    spdlog::info(
        "memory plan: {} MiB total x {} = {} MiB budget, peak in use {} MiB (pool {} MiB, "
        "outside {} MiB), KV {} MiB = {} blocks",
        total >> 20, utilization_, plan.budget_bytes >> 20, input.peak_used_bytes >> 20,
        pool_peak >> 20, outside_pool >> 20, plan.kv_bytes >> 20, plan.num_blocks);
    return plan.num_blocks;
  }

  std::vector<int> GraphBatchSizes() const override { return graph_sizes_; }

  bool BeginGraph(int key, GraphMode mode) override {
    if (mode == GraphMode::kReplay) return graphs_->BeginReplay(key);
    if (!std::binary_search(graph_sizes_.begin(), graph_sizes_.end(), key)) return false;
    graphs_->BeginCapture(key);
    return true;
  }

  void EndGraph(bool ok) override { graphs_->End(ok); }

  void InjectDeviceFault() override {
    CheckKernel(kernels::LaunchIllegalAddressFault(stream()), "InjectDeviceFault");
    Synchronize();  // reports the sticky cudaErrorIllegalAddress as kDeviceLost
    throw Error(ErrorKind::kInternal, "InjectDeviceFault: the faulting kernel did not fault");
  }

  Tensor Allocate(DType dtype, std::vector<int64_t> shape) override {
    if (InGraph()) return graphs_->Allocate(dtype, std::move(shape));
    int64_t n = 1;
    for (int64_t d : shape) {
      Expect(d >= 0, "negative dimension");
      n *= d;
    }
    std::shared_ptr<void> storage = pool_->Allocate(static_cast<size_t>(n) * DTypeSize(dtype));
    void* data = storage.get();
    return Tensor(std::move(storage), data, dtype, std::move(shape), DeviceKind::kCuda);
  }

  void CopyFromHost(const void* src, Tensor& dst) override {
    // From pageable memory the copy returns once the source was staged, so src may be reused.
    if (InGraph()) return graphs_->CopyFromHost(src, dst);
    if (dst.bytes() == 0) return;
    CheckCuda(cudaMemcpyAsync(dst.data(), src, dst.bytes(), cudaMemcpyHostToDevice, stream()),
              "cudaMemcpyAsync H2D");
  }

  void CopyToHost(const Tensor& src, void* dst) override {
    if (src.bytes() == 0) return;
    CheckCuda(cudaMemcpyAsync(dst, src.data(), src.bytes(), cudaMemcpyDeviceToHost, stream()),
              "cudaMemcpyAsync D2H");
    Synchronize();
  }

  void Synchronize() override {
    TG_CHECK(!InGraph(), kInternal, "Synchronize inside a graph bracket");
    CheckCuda(cudaStreamSynchronize(stream()), "cudaStreamSynchronize");
  }

  void Embedding(const Tensor& table, const Tensor& ids, Tensor& out) override {
    if (graphs_->Skipping()) return;  // the replayed graph runs it
    ExpectDType(ids, DType::kI32, "ids");
    ExpectDType(out, DType::kF32, "out");
    Expect(table.rank() == 2 && out.numel() == ids.numel() * table.dim(1), "Embedding shapes");
    kernels::EmbeddingParams p;
    p.dtype = ToKernel(table.dtype());
    p.token_ids = ids.data_as<int32_t>();
    p.table = table.data();
    p.out = out.data_as<float>();
    p.num_tokens = AsInt(ids.numel());
    p.hidden = AsInt(table.dim(1));
    p.vocab_size = AsInt(table.dim(0));
    CheckKernel(kernels::Embedding(p, stream()), "Embedding");
  }

  void RmsNorm(const Tensor& input, Tensor* residual, const Tensor& weight, float eps,
               Tensor& out) override {
    if (graphs_->Skipping()) return;  // the replayed graph runs it
    ExpectDType(input, DType::kF32, "input");
    ExpectActivationDType(out, "out");
    const int64_t h = weight.numel();
    Expect(h > 0 && input.numel() % h == 0 && out.numel() == input.numel(), "RmsNorm shapes");
    if (residual) {
      ExpectDType(*residual, DType::kF32, "residual");
      Expect(residual->numel() == input.numel(), "RmsNorm residual shape");
    }
    kernels::RmsNormParams p;
    p.dtype = ToKernel(weight.dtype());
    p.input = input.data_as<float>();
    p.residual = residual ? residual->data_as<float>() : nullptr;
    p.weight = weight.data();
    p.out = out.data();
    p.out_dtype = ToKernel(out.dtype());
    p.num_tokens = AsInt(input.numel() / h);
    p.cols = AsInt(h);
    p.eps = eps;
    CheckKernel(kernels::RmsNorm(p, stream()), "RmsNorm");
  }

  void Linear(const Tensor& x, const Tensor& weight, const Tensor* bias, Tensor& out) override {
    if (graphs_->Skipping()) return;  // the replayed graph runs it
    // A 16-bit x (written by a norm, an activation or attention in ActivationDType /
    // AttentionOutDType) is read as it is, by the skinny kernel or cuBLASLt.
    const bool half_x = x.dtype() != DType::kF32;
    if (half_x) {
      TG_CHECK(x.dtype() == weight.dtype(), kUnsupported,
               "Linear: a " + std::string(ToString(x.dtype())) +
                   " x needs weights of that dtype, got " + weight.DebugString());
    }
    // A 16-bit out (GateUpDType) comes from cuBLASLt alone: the skinny kernel writes float32.
    const bool half_out = out.dtype() != DType::kF32;
    if (half_out) {
      TG_CHECK(out.dtype() == weight.dtype() && bias == nullptr, kUnsupported,
               "Linear: a " + std::string(ToString(out.dtype())) +
                   " out needs weights of that dtype and no bias, got " + weight.DebugString());
    }
    Expect(weight.rank() == 2, "Linear weight must be 2-D");
    const int64_t n = weight.dim(0);
    const int64_t k = weight.dim(1);
    Expect(x.numel() % k == 0, "Linear input width");
    const int64_t m = x.numel() / k;
    Expect(out.numel() == m * n, "Linear output shape");
    if (bias) {
      ExpectDType(*bias, DType::kF32, "bias");
      Expect(bias->numel() == n, "Linear bias shape");
    }
    if (m <= kernels::kSkinnyMaxRows && !half_out) {
      kernels::SkinnyGemmParams sk;
      sk.dtype = ToKernel(weight.dtype());
      sk.x = x.data();
      sk.x_dtype = ToKernel(x.dtype());
      sk.w = weight.data();
      sk.bias = bias ? bias->data_as<float>() : nullptr;
      sk.y = out.data_as<float>();
      sk.m = AsInt(m);
      sk.n = AsInt(n);
      sk.k = AsInt(k);
      if (kernels::SkinnyGemmApplies(sk) && kernels::SkinnyGemmPreferred(sk)) {
        CheckKernel(kernels::SkinnyGemm(sk, stream()), "Linear (skinny)");
        return;
      }
    }
    kernels::GemmParams p;
    p.dtype = ToKernel(weight.dtype());
    p.out_dtype = half_out ? ToKernel(out.dtype()) : kernels::DType::kFloat32;
    p.x = x.data();
    if (weight.dtype() != DType::kF32 && !half_x) {
      const size_t count = static_cast<size_t>(m * k);
      void* converted = Scratch(count * DTypeSize(weight.dtype()), /*slot=*/1);
      kernels::ConvertParams c;
      c.dtype = p.dtype;
      c.input = x.data_as<float>();
      c.out = converted;
      c.count = count;
      CheckKernel(kernels::ConvertFromFloat(c, stream()), "Linear input conversion");
      p.x = converted;
    }
    p.w = weight.data();
    p.bias = bias ? bias->data() : nullptr;
    p.y = out.data();
    p.m = AsInt(m);
    p.n = AsInt(n);
    p.k = AsInt(k);
    p.workspace = gemm_workspace_;
    p.workspace_bytes = kernels::kGemmWorkspaceBytes;
    kernels::Status status = gemm_->Run(p, stream());
    if (status == kernels::Status::kUnsupported) status = kernels::SimpleGemm(p, stream());
    CheckKernel(status, "Linear");
  }

  void Rotary(Tensor& q, Tensor& k, const Tensor& positions, const Tensor& inv_freq) override {
    if (graphs_->Skipping()) return;  // the replayed graph runs it
    CheckKernel(kernels::Rotary(RotaryParamsFor(q, k, positions, inv_freq), stream()), "Rotary");
  }

  void WriteKv(const Tensor& k, const Tensor& v, const Tensor& slots, Tensor& k_cache,
               Tensor& v_cache) override {
    if (graphs_->Skipping()) return;  // the replayed graph runs it
    CheckKernel(kernels::WriteKvCache(KvWriteParamsFor(k, v, slots, k_cache, v_cache), stream()),
                "WriteKv");
  }

  void RotaryWriteKv(Tensor& q, Tensor& k, const Tensor& v, const Tensor& positions,
                     const Tensor& inv_freq, const Tensor& slots, Tensor& k_cache,
                     Tensor& v_cache) override {
    if (graphs_->Skipping()) return;  // the replayed graph runs it
    CheckKernel(kernels::RotaryKvWrite(RotaryParamsFor(q, k, positions, inv_freq),
                                       KvWriteParamsFor(k, v, slots, k_cache, v_cache), stream()),
                "RotaryWriteKv");
  }

  void PrefillAttention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                        const AttentionBatch& batch, float scale, Tensor& out) override {
    if (graphs_->Skipping()) return;  // the replayed graph runs it
    CheckAttention(q, k_cache, v_cache, batch, out);
    kernels::PrefillAttentionParams p;
    p.dtype = ToKernel(kv_dtype_);
    p.q = q.data_as<float>();
    p.k_cache = k_cache.data();
    p.v_cache = v_cache.data();
    p.block_tables = batch.block_tables.data_as<int32_t>();
    p.max_blocks_per_seq = AsInt(batch.block_tables.dim(1));
    p.query_starts = batch.query_start.data_as<int32_t>();
    p.seq_lens = batch.seq_lens.data_as<int32_t>();
    p.out = out.data();
    p.out_dtype = ToKernel(out.dtype());
    p.num_seqs = batch.num_seqs;
    p.max_query_len = batch.max_query_len;
    p.num_q_heads = AsInt(q.dim(1));
    p.num_kv_heads = AsInt(k_cache.dim(2));
    p.head_dim = AsInt(q.dim(2));
    p.q_stride = p.out_stride = p.num_q_heads * p.head_dim;
    p.block_size = AsInt(k_cache.dim(1));
    p.scale = scale;
    // FlashInfer's Hopper kernel when it serves the shape; it schedules from the host lengths.
    if (hopper_prefill_ && batch.HasHostLengths() &&
        kernels::HopperPrefill::Supports(p.dtype, p.head_dim)) {
      p.hopper = hopper_prefill_.get();
      p.host_query_starts = batch.host_query_start.data();
      p.host_seq_lens = batch.host_seq_lens.data();
      p.workspace_bytes = hopper_prefill_->WorkspaceBytes(batch.num_tokens, batch.num_seqs,
                                                          p.num_q_heads, p.head_dim, p.out_dtype);
      p.workspace = hopper_workspace_.Get(*pool_, p.workspace_bytes, false);
    }
    CheckKernel(kernels::PrefillAttention(p, stream()), "PrefillAttention");
  }

  void DecodeAttention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                       const AttentionBatch& batch, float scale, Tensor& out) override {
    if (graphs_->Skipping()) return;  // the replayed graph runs it
    CheckAttention(q, k_cache, v_cache, batch, out);
    Expect(q.dim(0) == batch.num_seqs, "DecodeAttention: one query per sequence");
    kernels::DecodeAttentionParams p;
    p.dtype = ToKernel(kv_dtype_);
    p.q = q.data_as<float>();
    p.k_cache = k_cache.data();
    p.v_cache = v_cache.data();
    p.block_tables = batch.block_tables.data_as<int32_t>();
    p.max_blocks_per_seq = AsInt(batch.block_tables.dim(1));
    p.context_lens = batch.seq_lens.data_as<int32_t>();
    p.out = out.data();
    p.out_dtype = ToKernel(out.dtype());
    p.num_seqs = batch.num_seqs;
    p.num_q_heads = AsInt(q.dim(1));
    p.num_kv_heads = AsInt(k_cache.dim(2));
    p.head_dim = AsInt(q.dim(2));
    p.q_stride = p.out_stride = p.num_q_heads * p.head_dim;
    p.block_size = AsInt(k_cache.dim(1));
    p.max_context_len = std::max(1, batch.max_seq_len);
    p.scale = scale;
    p.scratch_bytes = kernels::DecodeAttentionScratchBytes(p);
    // FlashInfer's schedule depends only on the context lengths and the launch shape, the same
    // in every layer of a forward: the first layer's call writes it into its scratch, and the
    // later ones reuse that scratch and skip the prepare kernel (ncu, batch-1 step: 2.9 us a
    // layer). A graph capture records the same: one prepare per replay.
    const DecodeScheduleKey key{
        batch.forward_id,     p.context_lens, p.block_tables, p.num_seqs, p.max_context_len,
        p.max_blocks_per_seq, p.num_q_heads,  p.num_kv_heads, p.head_dim, graphs_->capturing()};
    if (batch.forward_id != 0 && key == decode_schedule_.key &&
        p.scratch_bytes <= decode_schedule_.bytes) {
      p.scratch = decode_schedule_.scratch;
      p.schedule_ready = true;
    } else {
      p.scratch = Scratch(p.scratch_bytes, /*slot=*/2);
      decode_schedule_ = {key, p.scratch, p.scratch_bytes};
    }
    CheckKernel(kernels::DecodeAttention(p, stream()), "DecodeAttention");
  }

  void SplitColumns(const Tensor& input, std::span<Tensor* const> outs) override {
    if (graphs_->Skipping()) return;  // the replayed graph runs it
    ExpectDType(input, DType::kF32, "input");
    Expect(
        !outs.empty() && outs.size() <= kernels::SplitColumnsParams::kMaxParts && input.rank() >= 1,
        "SplitColumns parts");
    const int64_t width = input.dim(-1), rows = input.numel() / width;
    kernels::SplitColumnsParams p;
    p.input = input.data_as<float>();
    p.num_parts = static_cast<int>(outs.size());
    p.num_rows = AsInt(rows);
    int64_t covered = 0;
    for (int part = 0; part < p.num_parts; ++part) {
      Tensor& out = *outs[part];
      ExpectDType(out, DType::kF32, "out");
      const int64_t w = out.dim(-1);
      Expect(out.numel() == rows * w, "SplitColumns rows");
      p.outs[part] = out.data_as<float>();
      p.widths[part] = AsInt(w);
      covered += w;
    }
    Expect(covered == width, "SplitColumns widths");
    CheckKernel(kernels::SplitColumns(p, stream()), "SplitColumns");
  }

  void SiluAndMul(const Tensor& gate_up, Tensor& out) override {
    if (graphs_->Skipping()) return;  // the replayed graph runs it
    ExpectActivationDType(gate_up, "gate_up");
    ExpectActivationDType(out, "out");
    const int64_t width = gate_up.dim(-1);
    Expect(width % 2 == 0 && out.numel() * 2 == gate_up.numel(), "SiluAndMul shapes");
    kernels::SiluAndMulParams p;
    p.input = gate_up.data();
    p.input_dtype = ToKernel(gate_up.dtype());
    p.out = out.data();
    p.out_dtype = ToKernel(out.dtype());
    p.inter = AsInt(width / 2);
    p.num_tokens = AsInt(gate_up.numel() / width);
    CheckKernel(kernels::SiluAndMul(p, stream()), "SiluAndMul");
  }

  // One launch when the skinny GEMM applies (decode row counts): it applies SiLU-and-mul while
  // reading its input, so act is never written.
  void SiluAndMulLinear(const Tensor& gate_up, const Tensor& weight, Tensor& act,
                        Tensor& out) override {
    if (graphs_->Skipping()) return;  // the replayed graph runs it
    ExpectDType(out, DType::kF32, "out");
    Expect(weight.rank() == 2 && gate_up.dim(-1) == 2 * weight.dim(1) &&
               out.numel() * weight.dim(1) == act.numel() * weight.dim(0) &&
               act.numel() * 2 == gate_up.numel(),
           "SiluAndMulLinear shapes");
    kernels::SkinnyGemmParams sk;
    sk.dtype = ToKernel(weight.dtype());
    sk.x = gate_up.data();
    sk.w = weight.data();
    sk.y = out.data_as<float>();
    sk.m = AsInt(gate_up.numel() / gate_up.dim(-1));
    sk.n = AsInt(weight.dim(0));
    sk.k = AsInt(weight.dim(1));
    sk.silu_gated_input = true;
    // The fused path reads float32 gate|up (GateUpDType keeps it so where this can apply).
    if (gate_up.dtype() == DType::kF32 && kernels::SkinnyGemmApplies(sk) &&
        kernels::SkinnyGemmPreferred(sk)) {
      CheckKernel(kernels::SkinnyGemm(sk, stream()), "SiluAndMulLinear");
      return;
    }
    // Otherwise the activation is written in ActivationDType, into act's own storage (16-bit
    // rows take half of it), so the GEMM reads it without a conversion pass.
    const DType act_dtype = ActivationDType(weight.dtype());
    Tensor rows = act_dtype == DType::kF32
                      ? act
                      : Tensor(nullptr, act.data(), act_dtype, act.shape(), DeviceKind::kCuda);
    SiluAndMul(gate_up, rows);
    Linear(rows, weight, nullptr, out);
  }

  std::vector<SampleResult> Sample(const Tensor& logits,
                                   std::span<const SampleRequest> requests) override;
  std::vector<float> TokenLogprobs(const Tensor& logits, std::span<const int32_t> targets) override;

 private:
  cudaStream_t stream() const { return pool_->stream(); }
  bool InGraph() const { return graphs_->capturing() || graphs_->replaying(); }
  cudaMemPool_t Pool() const {
    cudaMemPool_t pool = nullptr;
    CheckCuda(cudaDeviceGetDefaultMemPool(&pool, device_), "cudaDeviceGetDefaultMemPool");
    return pool;
  }

  // A device buffer of at least `bytes` reused across eager calls (one per slot). Growing it
  // frees the old one in stream order, so work queued before still sees valid memory. A graph
  // being captured gets scratch of its own instead: a replay writes whatever pointer the capture
  // saw, so the graph must own it (a shared slot that grows later would leave the graph writing
  // into memory the pool has handed to someone else).
  void* Scratch(size_t bytes, int slot = 0) {
    if (graphs_->capturing()) return graphs_->AllocateOwned(bytes);
    return scratch_[slot].Get(*pool_, bytes, false);
  }

  // Constrained decoding (SampleRequest::allowed): masked logits become -inf in place, on the
  // device, before sampling. Rows without a mask get all-ones words. Nothing when no row has one.
  void ApplyAllowedMasks(const Tensor& logits, std::span<const SampleRequest> requests) {
    const int rows = static_cast<int>(requests.size());
    const int vocab = AsInt(logits.dim(1));
    const int words = (vocab + 31) / 32;
    bool any = false;
    std::vector<int32_t> host(static_cast<size_t>(rows) * words, -1);
    for (int r = 0; r < rows; ++r) {
      const std::span<const int32_t> allowed = requests[r].allowed;
      if (allowed.empty()) continue;
      Expect(static_cast<int>(allowed.size()) >= words, "Sample: allowed mask too short");
      std::copy_n(allowed.begin(), words, host.begin() + static_cast<size_t>(r) * words);
      any = true;
    }
    if (!any) return;
    auto* mask = static_cast<int32_t*>(Scratch(host.size() * sizeof(int32_t), 5));
    CheckCuda(cudaMemcpyAsync(mask, host.data(), host.size() * sizeof(int32_t),
                              cudaMemcpyHostToDevice, stream()),
              "cudaMemcpyAsync token mask");
    CheckKernel(kernels::ApplyTokenMask({.logits = logits.data_as<float>(),
                                         .bitmask = mask,
                                         .rows = rows,
                                         .vocab = vocab,
                                         .words = words},
                                        stream()),
                "ApplyTokenMask");
  }

  kernels::RotaryParams RotaryParamsFor(Tensor& q, Tensor& k, const Tensor& positions,
                                        const Tensor& inv_freq) const {
    ExpectDType(q, DType::kF32, "q");
    ExpectDType(k, DType::kF32, "k");
    ExpectDType(positions, DType::kI32, "positions");
    ExpectDType(inv_freq, DType::kF32, "inv_freq");
    Expect(q.rank() == 3 && k.rank() == 3 && q.dim(0) == k.dim(0) && q.dim(2) == k.dim(2) &&
               positions.numel() == q.dim(0) && inv_freq.numel() * 2 == q.dim(2),
           "Rotary shapes");
    kernels::RotaryParams p;
    p.q = q.data_as<float>();
    p.k = k.data_as<float>();
    p.positions = positions.data_as<int32_t>();
    p.inv_freq = inv_freq.data_as<float>();
    p.num_tokens = AsInt(q.dim(0));
    p.num_q_heads = AsInt(q.dim(1));
    p.num_kv_heads = AsInt(k.dim(1));
    p.head_dim = AsInt(q.dim(2));
    p.rotary_dim = p.head_dim;
    p.q_stride = p.num_q_heads * p.head_dim;
    p.k_stride = p.num_kv_heads * p.head_dim;
    return p;
  }

  kernels::KvCacheWriteParams KvWriteParamsFor(const Tensor& k, const Tensor& v,
                                               const Tensor& slots, Tensor& k_cache,
                                               Tensor& v_cache) const {
    ExpectDType(k, DType::kF32, "k");
    ExpectDType(v, DType::kF32, "v");
    ExpectDType(slots, DType::kI32, "slots");
    ExpectDType(k_cache, kv_dtype_, "k_cache");
    ExpectDType(v_cache, kv_dtype_, "v_cache");
    Expect(k.rank() == 3 && k_cache.rank() == 4 && k.dim(1) == k_cache.dim(2) &&
               k.dim(2) == k_cache.dim(3) && v.numel() == k.numel() && slots.numel() == k.dim(0) &&
               v_cache.numel() == k_cache.numel(),
           "WriteKv shapes");
    kernels::KvCacheWriteParams p;
    p.dtype = ToKernel(kv_dtype_);
    p.k = k.data_as<float>();
    p.v = v.data_as<float>();
    p.num_kv_heads = AsInt(k.dim(1));
    p.head_dim = AsInt(k.dim(2));
    p.k_stride = p.v_stride = p.num_kv_heads * p.head_dim;
    p.slots = slots.data_as<int32_t>();
    p.k_cache = k_cache.data();
    p.v_cache = v_cache.data();
    p.num_tokens = AsInt(k.dim(0));
    p.block_size = AsInt(k_cache.dim(1));
    p.num_blocks = AsInt(k_cache.dim(0));
    return p;
  }

  void CheckAttention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                      const AttentionBatch& batch, const Tensor& out) const {
    ExpectDType(q, DType::kF32, "q");
    if (out.dtype() != DType::kBF16) ExpectDType(out, DType::kF32, "out");
    ExpectDType(k_cache, kv_dtype_, "k_cache");
    ExpectDType(v_cache, kv_dtype_, "v_cache");
    Expect(q.rank() == 3 && k_cache.rank() == 4 && q.dim(2) == k_cache.dim(3) &&
               out.numel() == q.numel() && v_cache.numel() == k_cache.numel() &&
               batch.block_tables.rank() == 2 && q.dim(0) == batch.num_tokens,
           "attention shapes");
  }

  int device_;
  DType kv_dtype_;
  double utilization_;
  std::vector<int> graph_sizes_;
  std::string name_;
  std::shared_ptr<StreamPool> pool_;
  std::unique_ptr<kernels::GemmContext> gemm_;
  void* gemm_workspace_ = nullptr;
  // FlashInfer's prefill (null when not built or not sm_90) and its plan and bf16 staging.
  std::unique_ptr<kernels::HopperPrefill> hopper_prefill_ = kernels::HopperPrefill::Create(device_);
  ScratchBuffer hopper_workspace_;
  ScratchBuffer scratch_[6];
  // The decode attention call whose scratch holds this forward's schedule (DecodeAttention).
  struct DecodeScheduleKey {
    uint64_t forward_id = 0;
    const int32_t* context_lens = nullptr;
    const int32_t* block_tables = nullptr;
    int num_seqs = 0, max_context_len = 0, max_blocks_per_seq = 0, num_q_heads = 0,
        num_kv_heads = 0, head_dim = 0;
    bool capturing = false;
    bool operator==(const DecodeScheduleKey&) const = default;
  };
  struct {
    DecodeScheduleKey key;
    void* scratch = nullptr;
    size_t bytes = 0;
  } decode_schedule_;
  std::unique_ptr<DecodeGraphs> graphs_;  // destroyed first (its tensors' memory)
};

std::vector<SampleResult> CudaBackend::Sample(const Tensor& logits,
                                              std::span<const SampleRequest> requests) {
  ExpectDType(logits, DType::kF32, "logits");
  const int rows = static_cast<int>(requests.size());
  Expect(logits.rank() == 2 && logits.dim(0) == rows, "Sample: one logits row per request");
  const int vocab = AsInt(logits.dim(1));
  if (rows == 0) return {};

  std::vector<SampleRowParams> host(rows);
  std::vector<int32_t> history;
  std::vector<int32_t> bias_tokens;
  std::vector<float> bias_values;
  for (int r = 0; r < rows; ++r) {
    const SampleRequest& req = requests[r];
    const SamplingParams& sp = req.params;
    SampleRowParams& h = host[r];
    h.temperature = sp.temperature;
    h.top_p = sp.top_p;
    h.typical_p = sp.typical_p;
    h.min_p = sp.min_p;
    h.repetition_penalty = sp.repetition_penalty;
    h.frequency_penalty = sp.frequency_penalty;
    h.presence_penalty = sp.presence_penalty;
    h.top_k = sp.top_k;
    h.sampling = sp.do_sample ? 1 : 0;
    h.top_n = static_cast<int32_t>(std::min<uint32_t>(req.top_n, kMaxTopN));
    h.seed = sp.seed;
    h.step = req.step;
    const bool penalties = (sp.repetition_penalty != 1.f && sp.repetition_penalty > 0.f) ||
                           sp.frequency_penalty != 0.f || sp.presence_penalty != 0.f;
    h.history_offset = static_cast<int32_t>(history.size());
    h.history_len = penalties ? static_cast<int32_t>(req.history.size()) : 0;
    if (penalties) history.insert(history.end(), req.history.begin(), req.history.end());
    h.bias_offset = static_cast<int32_t>(bias_tokens.size());
    h.bias_len = static_cast<int32_t>(req.logit_bias.size());
    for (const LogitBias& b : req.logit_bias) {
      bias_tokens.push_back(b.token);
      bias_values.push_back(b.bias);
    }
  }
  // One staging buffer: params, history, bias tokens and values, then the results coming back.
  const size_t params_bytes = host.size() * sizeof(SampleRowParams);
  const size_t history_bytes = std::max<size_t>(history.size(), 1) * sizeof(int32_t);
  const size_t bias_bytes = bias_tokens.size() * (sizeof(int32_t) + sizeof(float));
  const size_t inputs_bytes = params_bytes + history_bytes + bias_bytes;
  const size_t results_bytes = static_cast<size_t>(rows) * (2 + 2 * kMaxTopN) * sizeof(int32_t);
  char* io = static_cast<char*>(Scratch(inputs_bytes + results_bytes, 3));
  std::vector<char> staging(inputs_bytes);
  std::memcpy(staging.data(), host.data(), params_bytes);
  if (!history.empty())
    std::memcpy(staging.data() + params_bytes, history.data(), history.size() * 4);
  char* bias_at = staging.data() + params_bytes + history_bytes;
  if (!bias_tokens.empty()) {
    std::memcpy(bias_at, bias_tokens.data(), bias_tokens.size() * 4);
    std::memcpy(bias_at + bias_tokens.size() * 4, bias_values.data(), bias_values.size() * 4);
  }
  CheckCuda(cudaMemcpyAsync(io, staging.data(), staging.size(), cudaMemcpyHostToDevice, stream()),
            "cudaMemcpyAsync sampling params");

  SampleParams p;
  p.logits = logits.data_as<float>();
  p.row_params = reinterpret_cast<const SampleRowParams*>(io);
  p.history = reinterpret_cast<const int32_t*>(io + params_bytes);
  p.bias_tokens = reinterpret_cast<const int32_t*>(io + params_bytes + history_bytes);
  p.bias_values =
      reinterpret_cast<const float*>(io + params_bytes + history_bytes + bias_tokens.size() * 4);
  p.rows = rows;
  p.vocab = vocab;
  p.scratch_bytes = SampleScratchBytes(rows, vocab);
  p.scratch = scratch_[4].Get(*pool_, p.scratch_bytes, /*zero=*/true);
  char* results = io + inputs_bytes;
  p.out_tokens = reinterpret_cast<int32_t*>(results);
  p.out_logprobs = reinterpret_cast<float*>(results + rows * 4);
  p.out_top_tokens = reinterpret_cast<int32_t*>(results + rows * 8);
  p.out_top_logprobs = reinterpret_cast<float*>(results + rows * 8 + rows * kMaxTopN * 4);
  // The mask runs before the kernel adds the logit bias; the pipeline's order (bias, then mask)
  // gives the same logits because a finite bias leaves -inf at -inf.
  ApplyAllowedMasks(logits, requests);
  CheckKernel(cuda::Sample(p, stream()), "Sample");

  std::vector<char> back(results_bytes);
  CheckCuda(cudaMemcpyAsync(back.data(), results, results_bytes, cudaMemcpyDeviceToHost, stream()),
            "cudaMemcpyAsync sampling results");
  Synchronize();
  const auto* tokens = reinterpret_cast<const int32_t*>(back.data());
  const auto* logprobs = reinterpret_cast<const float*>(back.data() + rows * 4);
  const auto* top_tokens = reinterpret_cast<const int32_t*>(back.data() + rows * 8);
  const auto* top_logprobs =
      reinterpret_cast<const float*>(back.data() + rows * 8 + rows * kMaxTopN * 4);
  std::vector<SampleResult> out(rows);
  for (int r = 0; r < rows; ++r) {
    out[r].token = tokens[r];
    out[r].logprob = logprobs[r];
    for (int k = 0; k < host[r].top_n && k < vocab; ++k) {
      out[r].top.emplace_back(top_tokens[r * kMaxTopN + k], top_logprobs[r * kMaxTopN + k]);
    }
  }
  return out;
}

std::vector<float> CudaBackend::TokenLogprobs(const Tensor& logits,
                                              std::span<const int32_t> targets) {
  ExpectDType(logits, DType::kF32, "logits");
  const int rows = static_cast<int>(targets.size());
  Expect(logits.rank() == 2 && logits.dim(0) == rows, "TokenLogprobs: one row per target");
  if (rows == 0) return {};
  const int vocab = AsInt(logits.dim(1));
  for (int32_t t : targets) {
    TG_CHECK(t >= 0 && t < vocab, kInvalidArgument, "target token out of range");
  }
  char* io = static_cast<char*>(Scratch(static_cast<size_t>(rows) * 8, 5));
  CheckCuda(cudaMemcpyAsync(io, targets.data(), rows * 4, cudaMemcpyHostToDevice, stream()),
            "cudaMemcpyAsync targets");
  TokenLogprobParams p;
  p.logits = logits.data_as<float>();
  p.targets = reinterpret_cast<const int32_t*>(io);
  p.out = reinterpret_cast<float*>(io + rows * 4);
  p.rows = rows;
  p.vocab = vocab;
  CheckKernel(cuda::TokenLogprobs(p, stream()), "TokenLogprobs");
  std::vector<float> out(rows);
  CheckCuda(cudaMemcpyAsync(out.data(), p.out, rows * 4, cudaMemcpyDeviceToHost, stream()),
            "cudaMemcpyAsync logprobs");
  Synchronize();
  return out;
}

}  // namespace
}  // namespace cuda

int CudaDeviceCount() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess ? count : 0;
}

std::unique_ptr<Backend> MakeCudaBackend(const BackendOptions& options) {
  const int count = CudaDeviceCount();
  TG_CHECK(options.device_id >= 0 && options.device_id < count, kUnavailable,
           "CUDA device " + std::to_string(options.device_id) + " not available (" +
               std::to_string(count) + " visible)");
  auto backend = std::make_unique<cuda::CudaBackend>(options);
  int runtime = 0, nccl = 0;
  cudaRuntimeGetVersion(&runtime);
  ncclGetVersion(&nccl);
  size_t free = 0, total = 0;
  cudaMemGetInfo(&free, &total);
  spdlog::info(
      "CUDA device {}: {} ({} MiB, {} MiB free), CUDA runtime {}.{}, NCCL {}.{}.{}, KV cache {}",
      options.device_id, backend->DeviceName(), total >> 20, free >> 20, runtime / 1000,
      (runtime % 1000) / 10, nccl / 10000, (nccl % 10000) / 100, nccl % 100,
      ToString(backend->KvDType()));
  return backend;
}

}  // namespace tg::backend
