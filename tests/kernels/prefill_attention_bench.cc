#include "tests/kernels/prefill_attention_bench.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <source_location>

#include "kernels/attention.h"
#include "kernels/prefill_hopper.h"
#include "shard/backend/cuda/cuda_check.h"

namespace tg::bench {
namespace {

constexpr int kBlockSize = 16;
constexpr int kWarmup = 2;
constexpr int kReps = 10;

// Exits naming the device and the caller's file and line.
[[noreturn]] void Fail(const char* what, const char* why, std::source_location where) {
  std::fprintf(stderr, "prefill attention bench: %s on %s: %s [%s:%u]\n", what,
               backend::cuda::CurrentDeviceName().c_str(), why, where.file_name(),
               static_cast<unsigned>(where.line()));
  std::exit(1);
}

void Check(cudaError_t e, const char* what,
           std::source_location where = std::source_location::current()) {
  if (e != cudaSuccess) Fail(what, cudaGetErrorString(e), where);
}

void Check(kernels::Status s, const char* what,
           std::source_location where = std::source_location::current()) {
  if (s != kernels::Status::kOk) Fail(what, kernels::ToString(s), where);
}

// A device buffer freed at scope exit.
struct DeviceBuffer {
  explicit DeviceBuffer(size_t bytes) {
    Check(cudaMalloc(&ptr, std::max<size_t>(bytes, 16)), "malloc");
  }
  ~DeviceBuffer() { cudaFree(ptr); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void* ptr = nullptr;
};

// Milliseconds per call of `run` on the default stream.
template <typename Fn>
double TimeMs(Fn&& run) {
  for (int i = 0; i < kWarmup; ++i) run();
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  cudaEventRecord(start);
  for (int i = 0; i < kReps; ++i) run();
  cudaEventRecord(stop);
  Check(cudaEventSynchronize(stop), "timed run");
  float ms = 0;
  cudaEventElapsedTime(&ms, start, stop);
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return ms / kReps;
}

PrefillAttentionResult RunCase(const PrefillAttentionCase& c, int hq, int hk, int d,
                               kernels::HopperPrefill* hopper) {
  const int seqs = static_cast<int>(c.fresh.size());
  std::vector<int32_t> qstart(seqs + 1, 0), lens(seqs);
  int max_q = 0, max_blocks = 0, num_blocks = 0;
  PrefillAttentionResult r;
  r.name = c.name;
  for (int s = 0; s < seqs; ++s) {
    lens[s] = c.cached[s] + c.fresh[s];
    qstart[s + 1] = qstart[s] + c.fresh[s];
    max_q = std::max(max_q, c.fresh[s]);
    const int blocks = (lens[s] + kBlockSize - 1) / kBlockSize;
    max_blocks = std::max(max_blocks, blocks);
    num_blocks += blocks;
    for (int i = 0; i < c.fresh[s]; ++i) r.flops += 4.0 * hq * d * (c.cached[s] + i + 1);
  }
  std::vector<int32_t> tables(static_cast<size_t>(seqs) * max_blocks, 0);
  for (int s = 0, next = 0; s < seqs; ++s) {
    for (int b = 0; b < (lens[s] + kBlockSize - 1) / kBlockSize; ++b)
      tables[static_cast<size_t>(s) * max_blocks + b] = next++;
  }
  const int tokens = qstart[seqs];
  const size_t cache_bytes = static_cast<size_t>(num_blocks) * kBlockSize * hk * d * 2;
  const size_t activation_bytes = static_cast<size_t>(tokens) * hq * d * 4;
  DeviceBuffer q(activation_bytes), out(activation_bytes);
  DeviceBuffer k(cache_bytes), v(cache_bytes);
  DeviceBuffer table(tables.size() * 4), starts(qstart.size() * 4), seq_lens(lens.size() * 4);
  Check(cudaMemset(q.ptr, 0, activation_bytes), "q");
  Check(cudaMemset(k.ptr, 0x3c, cache_bytes), "k");  // bf16 0x3c3c ~ 0.0115
  Check(cudaMemset(v.ptr, 0x3c, cache_bytes), "v");
  Check(cudaMemcpy(table.ptr, tables.data(), tables.size() * 4, cudaMemcpyHostToDevice), "table");
  Check(cudaMemcpy(starts.ptr, qstart.data(), qstart.size() * 4, cudaMemcpyHostToDevice), "qs");
  Check(cudaMemcpy(seq_lens.ptr, lens.data(), lens.size() * 4, cudaMemcpyHostToDevice), "lens");

  kernels::PrefillAttentionParams p;
  p.dtype = kernels::DType::kBFloat16;
  p.q = static_cast<const float*>(q.ptr);
  p.q_stride = p.out_stride = hq * d;
  p.k_cache = k.ptr;
  p.v_cache = v.ptr;
  p.block_tables = static_cast<const int32_t*>(table.ptr);
  p.max_blocks_per_seq = max_blocks;
  p.query_starts = static_cast<const int32_t*>(starts.ptr);
  p.seq_lens = static_cast<const int32_t*>(seq_lens.ptr);
  p.out = out.ptr;
  p.out_dtype = kernels::DType::kBFloat16;  // what the CUDA backend writes in a prompt step
  p.num_seqs = seqs;
  p.max_query_len = max_q;
  p.num_q_heads = hq;
  p.num_kv_heads = hk;
  p.head_dim = d;
  p.block_size = kBlockSize;
  p.scale = 1.f / std::sqrt(static_cast<float>(d));
  r.ours_ms = TimeMs([&] { Check(kernels::PrefillAttention(p, nullptr), "ours"); });
  if (hopper) {
    const size_t bytes = hopper->WorkspaceBytes(tokens, seqs, hq, d, p.out_dtype);
    DeviceBuffer workspace(bytes);
    kernels::PrefillAttentionParams fi = p;
    fi.hopper = hopper;
    fi.host_query_starts = qstart.data();
    fi.host_seq_lens = lens.data();
    fi.workspace = workspace.ptr;
    fi.workspace_bytes = bytes;
    // Direct, so a shape FlashInfer turned down fails loudly instead of timing our kernel.
    r.flashinfer_ms = TimeMs([&] { Check(hopper->Run(fi, nullptr), "flashinfer"); });
  }
  Check(cudaDeviceSynchronize(), "case");
  return r;
}

}  // namespace

std::string PrefillAttentionResult::Json() const {
  char line[512];
  std::snprintf(line, sizeof(line),
                "{\"bench\": \"prefill_attention\", \"case\": \"%s\", \"GFLOP\": %.1f, "
                "\"ours_ms\": %.3f, \"ours_TFLOPs\": %.1f, \"flashinfer_ms\": %.3f, "
                "\"flashinfer_TFLOPs\": %.1f}",
                name.c_str(), flops / 1e9, ours_ms, flops / (ours_ms * 1e-3) / 1e12, flashinfer_ms,
                flashinfer_ms > 0 ? flops / (flashinfer_ms * 1e-3) / 1e12 : 0.0);
  return line;
}

std::vector<PrefillAttentionCase> DefaultPrefillAttentionCases() {
  PrefillAttentionCase mixed{"mixed_1x4096_32x128", {0}, {4096}};
  for (int i = 0; i < 32; ++i) {
    mixed.cached.push_back(0);
    mixed.fresh.push_back(128);
  }
  return {{"causal_4096", {0}, {4096}}, {"chunk_2048_over_6144", {6144}, {2048}}, mixed};
}

std::vector<PrefillAttentionResult> RunPrefillAttentionBench(
    const std::vector<PrefillAttentionCase>& cases, int num_q_heads, int num_kv_heads,
    int head_dim) {
  int device = 0;
  Check(cudaGetDevice(&device), "cudaGetDevice");
  std::unique_ptr<kernels::HopperPrefill> hopper = kernels::HopperPrefill::Create(device);
  std::vector<PrefillAttentionResult> results;
  for (const PrefillAttentionCase& c : cases) {
    results.push_back(RunCase(c, num_q_heads, num_kv_heads, head_dim, hopper.get()));
  }
  return results;
}

}  // namespace tg::bench
