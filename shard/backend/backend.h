// The Backend interface: the small set of device ops the model code is written against once.
//
// Implementations: cpu/ (the readable reference; float32 accumulation, multithreaded) and cuda/
// (MakeCudaBackend in shard/backend/cuda/cuda_backend.h). Every CUDA op is tested element-wise
// against the CPU op, so the semantics below are exact contracts.
//
// Conventions for every op:
// - Tensors are contiguous, row-major, on this backend's device. "Activations" are float32,
//   except rows that feed a GEMM, which a backend may keep in its 16-bit weight dtype
//   (AttentionOutDType, ActivationDType): the GEMM would round them to it first anyway.
//   Weights (W of Linear, the embedding table, norm weights) may be float32, bfloat16 or
//   float16; all arithmetic accumulates in float32. Index tensors are int32. Where
//   ComputesOnBlocks says so, W of Linear and the embedding table may be a GGML block dtype:
//   Linear then quantizes x to int8 per block of 32 (shard/backend/cpu/quant_kernels.h).
// - Ops are asynchronous (queued on the backend's stream) and never synchronise, except those
//   that return results to the host (CopyToHost, Sample, TokenLogprobs) and Synchronize.
// - `out` may alias an input only where an op says so.
// - Shape errors throw tg::Error(kInvalidArgument); unsupported dtypes throw kUnsupported.
//
// Paged KV cache: per layer one K and one V tensor of shape
//   [num_blocks, block_size, num_kv_heads, head_dim]
// in the activation dtype (float32 for the CPU backend; a backend may use bf16/f16 and must then
// say so through KvDType). The router owns block allocation; token position p of a sequence lives
// in slot = block_table[p / block_size] * block_size + p % block_size, i.e. at
// cache[slot / block_size][slot % block_size].
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/error.h"
#include "shard/backend/sampling.h"
#include "shard/backend/tensor.h"

namespace tg::backend {

struct BackendOptions {
  DeviceKind device = DeviceKind::kCpu;
  int device_id = 0;
  int threads = 0;                          // CPU: worker threads, 0 = hardware cores
  std::vector<int> cuda_graph_batch_sizes;  // CUDA: decode batch sizes to capture, empty = none
  double memory_utilization = 0.9;          // CUDA: fraction of device memory to use
  // The KV cache dtype asked for (--kv-cache-dtype); empty: the backend's default. A backend
  // refuses one it cannot serve (kv_cache_dtype.h).
  std::optional<DType> kv_cache_dtype;
};

// Where a batch's tokens sit in the paged cache. Host-side ints are there so a device backend
// can pick launch shapes without reading device memory.
struct AttentionBatch {
  int num_seqs = 0;
  int num_tokens = 0;  // new tokens in this forward (sum of query lengths)
  int max_query_len = 0;
  int max_seq_len = 0;  // longest KV length after this step
  int block_size = 16;
  Tensor query_start;   // int32 [num_seqs + 1]: token offsets of each sequence's new tokens
  Tensor seq_lens;      // int32 [num_seqs]: KV length after this step (cached + new)
  Tensor block_tables;  // int32 [num_seqs, max_blocks]: block ids, unused entries arbitrary
  Tensor slots;         // int32 [num_tokens]: cache slot of each new token
  Tensor positions;     // int32 [num_tokens]: position of each new token in its sequence
  // Host copies of query_start and seq_lens (optional; empty when not given): a device backend
  // schedules prefill attention from them (once per forward) without reading device memory.
  std::vector<int32_t> host_query_start;
  std::vector<int32_t> host_seq_lens;
  // Nonzero and different for every forward's inputs (0: unknown), so that a backend may do
  // per-forward attention work once and reuse it in every layer (the CUDA backend's decode
  // schedule), where the device buffers alone could be the same memory in the next forward.
  uint64_t forward_id = 0;

  // Whether the host copies are given. Given copies that do not describe this batch (a part of a
  // batch must carry its own slice of them) throw kInvalidArgument: a backend would otherwise
  // quietly fall back to a slower kernel.
  bool HasHostLengths() const {
    if (host_query_start.empty() && host_seq_lens.empty()) return false;
    TG_CHECK(static_cast<int>(host_query_start.size()) == num_seqs + 1 &&
                 static_cast<int>(host_seq_lens.size()) == num_seqs &&
                 host_query_start.back() - host_query_start.front() == num_tokens,
             kInvalidArgument, "AttentionBatch host lengths do not match the batch");
    return true;
  }
};

class Backend {
 public:
  virtual ~Backend() = default;

  // ---- Device and memory ----
  virtual DeviceKind device() const = 0;
  virtual std::string DeviceName() const = 0;
  // Bytes that could still be allocated (CPU: available RAM; CUDA: free device memory).
  virtual uint64_t FreeMemoryBytes() const = 0;
  // Uninitialised memory.
  virtual Tensor Allocate(DType dtype, std::vector<int64_t> shape) = 0;
  // Copies dst.bytes() bytes from host memory into dst. The host buffer may be reused as soon as
  // the call returns (a device backend stages or synchronises as needed).
  virtual void CopyFromHost(const void* src, Tensor& dst) = 0;
  // Copies src.bytes() bytes into host memory; synchronises.
  virtual void CopyToHost(const Tensor& src, void* dst) = 0;
  // Waits for all queued work.
  virtual void Synchronize() = 0;
  // The dtype K/V are stored in for activations of float32 (CPU: float32).
  virtual DType KvDType() const = 0;
  // True when Linear and Embedding take weights in this GGML block dtype (kQ8_0, kQ4_0, kQ4_1)
  // and compute on them directly (faster than on dequantized weights); the model then keeps
  // such weights as the file stores them.
  virtual bool ComputesOnBlocks(DType /*dtype*/) const { return false; }
  // The dtype PrefillAttention and DecodeAttention write for a step over `batch` whose output
  // feeds a Linear with weights of `weight_dtype` (o_proj): float32 (the default; the CPU
  // backend), or bf16 where this backend's attention writes bf16 rows and its Linear reads them
  // as they are, so that no conversion pass sits between the two. Attention ops then take an
  // `out` of this dtype, and Linear an `x` of it.
  virtual DType AttentionOutDType(const AttentionBatch& /*batch*/, DType /*weight_dtype*/) const {
    return DType::kF32;
  }
  // The dtype RmsNorm writes the rows that feed Linears with weights of `weight_dtype` (the
  // q|k|v and gate|up projections, lm_head's rows; a backend's SiluAndMulLinear may use it for
  // the down projection's input too): float32 (the default; the CPU backend), or
  // that 16-bit dtype where this backend's Linear reads such rows as they are. The values are
  // the same either way: a 16-bit GEMM rounds its float32 input to its dtype first, and this only
  // moves that rounding into the norm, saving a conversion pass per projection.
  virtual DType ActivationDType(DType /*weight_dtype*/) const { return DType::kF32; }
  // The dtype of the gate|up projection's output, which only SiluAndMul (or SiluAndMulLinear)
  // reads: float32 (the default; the CPU backend), or the weights' 16-bit dtype where this
  // backend's Linear writes such rows and its SiluAndMul reads them: half the bytes written and
  // read at prefill sizes, for rounding gate and up to the weights' precision before SiLU (as a
  // bf16 model in HF transformers does). `rows` is the step's token count: a backend may keep
  // float32 where a fused path reads it.
  virtual DType GateUpDType(DType /*weight_dtype*/, int64_t /*rows*/) const { return DType::kF32; }
  // The native stream every op is queued on (CUDA: the cudaStream_t), so a collective library
  // (NCCL) can be ordered with the ops; nullptr for backends without one (CPU).
  virtual void* NativeStream() { return nullptr; }

  // ---- Memory planning (device backends; the CPU backend keeps the defaults) ----
  // Starts measuring the peak of device memory in use (weights, activations, workspaces).
  virtual void ResetPeakMemory() {}
  // KV blocks of `bytes_per_block` that fit in the configured share of device memory
  // (--gpu-memory-utilization) beside the peak in use since ResetPeakMemory, not counting
  // `freed_bytes` that were in use then and have been released since (a temporary cache).
  // -1 when the backend does not plan memory (the caller sizes the pool itself).
  virtual int64_t PlanKvBlocks(uint64_t /*bytes_per_block*/, uint64_t /*freed_bytes*/) {
    return -1;
  }

  // ---- Decode graphs (CUDA graphs; optional, the defaults mean "none") ----
  // Batch sizes for which a decode forward may be recorded, ascending (empty: none).
  virtual std::vector<int> GraphBatchSizes() const { return {}; }
  enum class GraphMode { kCapture, kReplay };
  // Brackets one forward's calls. kCapture records them as graph `key` without running them
  // (inputs given by CopyFromHost are re-read at every replay). kReplay expects the very same
  // sequence of Allocate / CopyFromHost / op calls: it returns the tensors recorded at capture,
  // only takes the new host inputs, and EndGraph launches the graph. BeginGraph returns false
  // (and nothing is bracketed) when the backend has no such graph; a replay whose calls differ
  // from the capture throws tg::Error(kInternal).
  virtual bool BeginGraph(int /*key*/, GraphMode /*mode*/) { return false; }
  // Ends the bracket. `ok` false (the caller threw) discards a capture and skips a launch.
  // Throws when a capture could not be instantiated (the key then stays unavailable).
  virtual void EndGraph(bool /*ok*/) {}

  // Test-only fault injection: leaves the device the way a real fatal fault would (CUDA: a
  // kernel writes to an unmapped address, poisoning the context) and throws the resulting
  // tg::Error(kDeviceLost), with the failing op in its message.
  virtual void InjectDeviceFault() = 0;

  // ---- Ops (see conventions above) ----

  // out[i, :] = float32(table[ids[i], :]). table [vocab, hidden] any float dtype, ids int32 [n],
  // out float32 [n, hidden]. Ids outside [0, vocab) throw (CPU) or are undefined (device).
  virtual void Embedding(const Tensor& table, const Tensor& ids, Tensor& out) = 0;

  // Row-wise RMSNorm with an optional fused residual add, over the last dimension h:
  //   residual == nullptr:  out = input * rsqrt(mean(input^2) + eps) * weight
  //   residual != nullptr:  *residual += input; out = (*residual) * rsqrt(mean(...) + eps) * weight
  // input/out/residual float32 [rows, h]; weight [h] any float dtype. The mean and the product
  // are computed in float32, in that order (x * inv_rms, then * weight), as HF Llama does.
  // out may alias input. out may also be in ActivationDType (rounded once at the end).
  virtual void RmsNorm(const Tensor& input, Tensor* residual, const Tensor& weight, float eps,
                       Tensor& out) = 0;

  // out[n, o] = sum_k x[n, k] * W[o, k] (+ bias[o]). x float32 [rows, in] (or the
  // AttentionOutDType / ActivationDType for W's dtype), W [out, in] any float dtype, bias float32
  // [out] or nullptr, out float32 [rows, out] (or GateUpDType for W's dtype, without a bias). No
  // aliasing.
  virtual void Linear(const Tensor& x, const Tensor& weight, const Tensor* bias, Tensor& out) = 0;

  // Rotary embedding in the HF "rotate_half" layout, in place on q [n, hq, d] and k [n, hk, d]
  // (float32). For token t at position p = positions[t], and i in [0, d/2):
  //   angle = float32(p) * inv_freq[i]   (float32 product; cos/sin of it)
  //   x'[i]       = x[i] * cos - x[i + d/2] * sin
  //   x'[i + d/2] = x[i + d/2] * cos + x[i] * sin
  // inv_freq float32 [d/2] carries any rope scaling (llama3, linear), computed by the model.
  virtual void Rotary(Tensor& q, Tensor& k, const Tensor& positions, const Tensor& inv_freq) = 0;

  // Writes the new tokens' k/v (float32 [n, hk, d]) into the caches
  // ([num_blocks, block_size, hk, d]) at slots[t] (int32 [n]). A negative slot skips its token
  // (the padding rows of a CUDA-graph decode batch); a slot past the cache throws.
  virtual void WriteKv(const Tensor& k, const Tensor& v, const Tensor& slots, Tensor& k_cache,
                       Tensor& v_cache) = 0;

  // Rotary(q, k, positions, inv_freq), then WriteKv(k, v, slots, k_cache, v_cache): the step's
  // new rows rotated and cached. A backend may fuse the two (CUDA: one kernel); the results are
  // those of the two calls.
  virtual void RotaryWriteKv(Tensor& q, Tensor& k, const Tensor& v, const Tensor& positions,
                             const Tensor& inv_freq, const Tensor& slots, Tensor& k_cache,
                             Tensor& v_cache) {
    Rotary(q, k, positions, inv_freq);
    WriteKv(k, v, slots, k_cache, v_cache);
  }

  // Copies consecutive column ranges of `input` [rows, sum of widths] into contiguous float32
  // tensors, outs[i] being [rows, width_i] (at most 4): the fused q|k|v projection into q, k, v.
  virtual void SplitColumns(const Tensor& input, std::span<Tensor* const> outs) = 0;

  // Causal attention of a variable-length batch of new tokens over the paged cache (their own
  // K/V already written by WriteKv). q float32 [num_tokens, hq, d]; out [num_tokens, hq, d]
  // float32 or AttentionOutDType (the same dtype for every part of a step). Sequence s has q_len =
  // query_start[s+1] - query_start[s] new tokens; its query j sits at position seq_lens[s] - q_len
  // + j and attends to cache positions 0..that position. Query head h reads KV head h / (hq / hk)
  // (GQA). Softmax in float32 of scale * q.k.
  virtual void PrefillAttention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                                const AttentionBatch& batch, float scale, Tensor& out) = 0;

  // The same with exactly one new token per sequence (q [num_seqs, hq, d]), attending to cache
  // positions 0..seq_lens[s]-1. Equal to PrefillAttention with query_start = 0..num_seqs.
  virtual void DecodeAttention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                               const AttentionBatch& batch, float scale, Tensor& out) = 0;

  // out[n, i] = silu(gate_up[n, i]) * gate_up[n, I + i], gate_up [n, 2I] float32 or
  // GateUpDType, out [n, I]; silu(x) = x / (1 + exp(-x)).
  virtual void SiluAndMul(const Tensor& gate_up, Tensor& out) = 0;

  // ---- Fused ops: the same contract as the composition they replace, one launch where the
  // backend can (the defaults run the composition). ----

  // SiluAndMul(gate_up, act), then Linear(act, weight, nullptr, out): an MLP's down projection.
  // act (float32 [n, I]) is workspace; its contents afterwards are unspecified (a backend may
  // use its storage for 16-bit rows).
  virtual void SiluAndMulLinear(const Tensor& gate_up, const Tensor& weight, Tensor& act,
                                Tensor& out) {
    SiluAndMul(gate_up, act);
    Linear(act, weight, nullptr, out);
  }

  // Logits processing and sampling of each row of logits (float32 [rows, vocab]) with its
  // request (rows == requests.size()); results exactly as SampleRow (shard/backend/sampling.h)
  // up to float rounding, except that a backend may report the logprob of a request that did not
  // ask for it (SampleRequest::logprob false: the CPU leaves it NaN, CUDA computes it anyway).
  // Synchronises.
  virtual std::vector<SampleResult> Sample(const Tensor& logits,
                                           std::span<const SampleRequest> requests) = 0;

  // log_softmax(logits[t, :])[targets[t]] for each row (raw logits). Synchronises.
  virtual std::vector<float> TokenLogprobs(const Tensor& logits,
                                           std::span<const int32_t> targets) = 0;
};

// The CPU reference backend (shard/backend/cpu/).
std::unique_ptr<Backend> MakeCpuBackend(const BackendOptions& options);

}  // namespace tg::backend
