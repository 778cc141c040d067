// GPU benchmarks of the CUDA backend in the shapes of Llama-3-8B (bf16 weights), each reported
// as a ratio to a ceiling measured in the same run:
//   decode_roofline = (weight bytes per token / batch-1 decode step time) / D2D copy bandwidth
//   prefill_vs_gemm = (linear FLOPs of one 4096-token prefill / its time) / cuBLASLt bf16 GEMM rate
//   prefill_4096_vs_gemm = the same counting all FLOPs (Linear plus causal attention)
//   linear_4096_vs_gemm = the prefill's Linear ops alone (M = 4096 rows) / GEMM rate
// and prefill attention alone (ours vs FlashInfer's Hopper kernel, tests/kernels/
// prefill_attention_bench.h) in TFLOP/s, one JSON line per case on stdout before the summary.
// After the summary, the decode sweeps of decode_bench.h (batch 1..64 step times against the
// weights + KV roofline, Linear per shape at decode row counts, decode attention 1k..32k: ours and
// FlashInfer's), one JSON line each.
// The layer stack calls the same Backend ops as the model code (separate q/k/v projections,
// fused residual RmsNorm, rotary, paged KV write, attention, SiLU-and-mul with the down
// projection, lm_head, greedy sampling); weights are filled with a tiny constant, which does not
// change the timing.
// With --token-masks, only the constrained-decoding figures of token_mask_bench.h, for the given
// tokenizers (comma-separated), written as {"token_masks": [...]}.
// --profile-decode / --profile-prefill: only one decode step (decode_bench.h ProfileDecodeStep)
// or one prompt of TOKENS tokens between cudaProfilerStart/Stop, for ncu --profile-from-start off.
// usage: cuda_bench [OUTPUT.json] [--layers N] [--token-masks TOKENIZER[,TOKENIZER...]]
//                   [--profile-decode BATCH] [--profile-prefill TOKENS]
#include <cuda_profiler_api.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <source_location>
#include <string>
#include <vector>

#include "kernels/gemm.h"
#include "kernels/prefill_hopper.h"
#include "shard/backend/cuda/cuda_backend.h"
#include "shard/backend/cuda/cuda_check.h"
#include "tests/kernels/decode_bench.h"
#include "tests/kernels/prefill_attention_bench.h"
#include "tests/kernels/token_mask_bench.h"

namespace tg::backend {
namespace {

struct Shape {
  int hidden = 4096, inter = 14336, layers = 32, hq = 32, hk = 8, d = 128, vocab = 128256;
};

// Exits naming the device and the caller's file and line.
void Check(cudaError_t e, const char* what,
           std::source_location where = std::source_location::current()) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "%s on %s: %s [%s:%u]\n", what, cuda::CurrentDeviceName().c_str(),
                 cudaGetErrorString(e), where.file_name(), static_cast<unsigned>(where.line()));
    std::exit(1);
  }
}

double Seconds(std::chrono::steady_clock::time_point a) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count();
}

// Device-to-device copy bandwidth in bytes/s, counting bytes read and written.
double CopyBandwidth() {
  const size_t bytes = 2ull << 30;
  void *a = nullptr, *b = nullptr;
  Check(cudaMalloc(&a, bytes), "cudaMalloc");
  Check(cudaMalloc(&b, bytes), "cudaMalloc");
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  for (int i = 0; i < 3; ++i) cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice);
  const int reps = 10;
  cudaEventRecord(start);
  for (int i = 0; i < reps; ++i) cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice);
  cudaEventRecord(stop);
  Check(cudaEventSynchronize(stop), "copy");
  float ms = 0;
  cudaEventElapsedTime(&ms, start, stop);
  cudaFree(a);
  cudaFree(b);
  return 2.0 * bytes * reps / (ms / 1e3);
}

// cuBLASLt bf16 GEMM rate (FLOP/s) for y[m, n] = x[m, k] w[n, k]^T with float32 output.
double GemmRate(int m, int n, int k) {
  auto ctx = kernels::GemmContext::Create();
  void *x, *w, *y, *ws;
  Check(cudaMalloc(&x, size_t(m) * k * 2), "x");
  Check(cudaMalloc(&w, size_t(n) * k * 2), "w");
  Check(cudaMalloc(&y, size_t(m) * n * 4), "y");
  Check(cudaMalloc(&ws, kernels::kGemmWorkspaceBytes), "ws");
  cudaMemset(x, 0x3c, size_t(m) * k * 2);
  cudaMemset(w, 0x3c, size_t(n) * k * 2);
  kernels::GemmParams p;
  p.dtype = kernels::DType::kBFloat16;
  p.out_dtype = kernels::DType::kFloat32;
  p.x = x;
  p.w = w;
  p.y = y;
  p.m = m;
  p.n = n;
  p.k = k;
  p.workspace = ws;
  p.workspace_bytes = kernels::kGemmWorkspaceBytes;
  for (int i = 0; i < 3; ++i) ctx->Run(p, nullptr);
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  const int reps = 10;
  cudaEventRecord(start);
  for (int i = 0; i < reps; ++i) {
    if (ctx->Run(p, nullptr) != kernels::Status::kOk) std::fprintf(stderr, "gemm failed\n");
  }
  cudaEventRecord(stop);
  Check(cudaEventSynchronize(stop), "gemm");
  float ms = 0;
  cudaEventElapsedTime(&ms, start, stop);
  cudaFree(x);
  cudaFree(w);
  cudaFree(y);
  cudaFree(ws);
  return 2.0 * m * n * k * reps / (ms / 1e3);
}

struct Layer {
  Tensor ln1, wq, wk, wv, wo, ln2, gate_up, down, k_cache, v_cache;
};

struct Model {
  Shape s;
  Tensor embed, norm, lm_head, inv_freq;
  std::vector<Layer> layers;
  uint64_t weight_bytes = 0;  // read per decode step (the embedding reads one row)
  double linear_params = 0;
};

Tensor Weight(Backend& b, Model& m, std::vector<int64_t> shape, bool counted = true) {
  Tensor t = b.Allocate(DType::kBF16, shape);
  Check(cudaMemset(t.data(), 0x20, t.bytes()), "cudaMemset");
  if (counted) {
    m.weight_bytes += t.bytes();
    if (shape.size() == 2) m.linear_params += double(t.numel());
  }
  return t;
}

Model Build(Backend& b, const Shape& s, int num_blocks, int block_size) {
  Model m;
  m.s = s;
  m.embed = Weight(b, m, {s.vocab, s.hidden}, false);
  m.norm = Weight(b, m, {s.hidden});
  m.lm_head = Weight(b, m, {s.vocab, s.hidden});
  std::vector<float> inv(s.d / 2);
  for (int i = 0; i < s.d / 2; ++i) inv[i] = std::pow(500000.f, -2.f * i / s.d);
  m.inv_freq = b.Allocate(DType::kF32, {s.d / 2});
  b.CopyFromHost(inv.data(), m.inv_freq);
  for (int l = 0; l < s.layers; ++l) {
    Layer L;
    L.ln1 = Weight(b, m, {s.hidden});
    L.wq = Weight(b, m, {s.hq * s.d, s.hidden});
    L.wk = Weight(b, m, {s.hk * s.d, s.hidden});
    L.wv = Weight(b, m, {s.hk * s.d, s.hidden});
    L.wo = Weight(b, m, {s.hidden, s.hq * s.d});
    L.ln2 = Weight(b, m, {s.hidden});
    L.gate_up = Weight(b, m, {2 * s.inter, s.hidden});
    L.down = Weight(b, m, {s.hidden, s.inter});
    L.k_cache = b.Allocate(b.KvDType(), {num_blocks, block_size, s.hk, s.d});
    L.v_cache = b.Allocate(b.KvDType(), {num_blocks, block_size, s.hk, s.d});
    Check(cudaMemset(L.k_cache.data(), 0, L.k_cache.bytes()), "kv");
    Check(cudaMemset(L.v_cache.data(), 0, L.v_cache.bytes()), "kv");
    m.layers.push_back(L);
  }
  Check(cudaDeviceSynchronize(), "init");
  return m;
}

// The logits of one forward of `n` new tokens of a single sequence whose KV length becomes
// `seq_len`. A CUDA graph fixes shapes: `table_blocks` widens the block table and `launch_len`
// sizes the attention launch for the longest context the graph serves.
Tensor Logits(Backend& b, Model& m, int n, int seq_len, int block_size, int table_blocks = 0,
              int launch_len = 0) {
  const Shape& s = m.s;
  const int cached = seq_len - n;
  std::vector<int32_t> ids(n, 1), positions(n), slots(n);
  for (int i = 0; i < n; ++i) positions[i] = slots[i] = cached + i;  // blocks 0.. in order
  const int max_blocks = std::max((seq_len + block_size - 1) / block_size, table_blocks);
  std::vector<int32_t> table(max_blocks), qstart = {0, n}, lens = {seq_len};
  for (int i = 0; i < max_blocks; ++i) table[i] = i;
  auto ints = [&](const std::vector<int32_t>& v, std::vector<int64_t> shape) {
    Tensor t = b.Allocate(DType::kI32, shape);
    b.CopyFromHost(v.data(), t);
    return t;
  };
  AttentionBatch batch;
  batch.num_seqs = 1;
  batch.num_tokens = n;
  batch.max_query_len = n;
  batch.max_seq_len = std::max(seq_len, launch_len);
  batch.block_size = block_size;
  batch.query_start = ints(qstart, {2});
  batch.seq_lens = ints(lens, {1});
  batch.host_query_start = qstart;
  batch.host_seq_lens = lens;
  batch.block_tables = ints(table, {1, max_blocks});
  batch.slots = ints(slots, {n});
  batch.positions = ints(positions, {n});

  // The residual stream starts as the embeddings; each block's output is added to it by the
  // next fused RmsNorm.
  Tensor residual = b.Allocate(DType::kF32, {n, s.hidden});
  b.Embedding(m.embed, ints(ids, {n}), residual);
  Tensor x = b.Allocate(DType::kF32, {n, s.hidden});
  Tensor h = b.Allocate(b.ActivationDType(DType::kBF16), {n, s.hidden});
  Tensor q = b.Allocate(DType::kF32, {n, s.hq, s.d});
  Tensor k = b.Allocate(DType::kF32, {n, s.hk, s.d});
  Tensor v = b.Allocate(DType::kF32, {n, s.hk, s.d});
  // In the dtype the backend's attention writes for o_proj, as the model allocates it.
  Tensor attn = b.Allocate(b.AttentionOutDType(batch, m.layers.front().wo.dtype()), {n, s.hq, s.d});
  Tensor gu = b.Allocate(DType::kF32, {n, 2 * s.inter});
  Tensor act = b.Allocate(DType::kF32, {n, s.inter});
  const float scale = 1.f / std::sqrt(float(s.d));
  for (size_t l = 0; l < m.layers.size(); ++l) {
    Layer& L = m.layers[l];
    b.RmsNorm(l == 0 ? residual : x, l == 0 ? nullptr : &residual, L.ln1, 1e-5f, h);
    b.Linear(h, L.wq, nullptr, q);
    b.Linear(h, L.wk, nullptr, k);
    b.Linear(h, L.wv, nullptr, v);
    b.Rotary(q, k, batch.positions, m.inv_freq);
    b.WriteKv(k, v, batch.slots, L.k_cache, L.v_cache);
    if (n == 1) {
      b.DecodeAttention(q, L.k_cache, L.v_cache, batch, scale, attn);
    } else {
      b.PrefillAttention(q, L.k_cache, L.v_cache, batch, scale, attn);
    }
    b.Linear(attn, L.wo, nullptr, x);
    b.RmsNorm(x, &residual, L.ln2, 1e-5f, h);
    b.Linear(h, L.gate_up, nullptr, gu);
    b.SiluAndMulLinear(gu, L.down, act, x);
  }
  b.RmsNorm(x, &residual, m.norm, 1e-5f, h);
  Tensor last = h.Rows(n - 1, 1);
  Tensor logits = b.Allocate(DType::kF32, {1, s.vocab});
  b.Linear(last, m.lm_head, nullptr, logits);
  return logits;
}

// Returns the greedy token.
int32_t Forward(Backend& b, Model& m, int n, int seq_len, int block_size) {
  SampleRequest req;
  return b.Sample(Logits(b, m, n, seq_len, block_size), {&req, 1})[0].token;
}

// Seconds per batch-1 decode step replayed from a CUDA graph (Backend::BeginGraph), contexts
// context..context+steps-1; the graph serves contexts up to context + 64.
double GraphDecodeStep(Backend& b, Model& m, int context, int steps, int block_size) {
  const int launch_len = context + 64, table_blocks = launch_len / block_size;
  Logits(b, m, 1, context, block_size, table_blocks, launch_len);  // sizes scratch eagerly
  b.Synchronize();
  if (!b.BeginGraph(1, Backend::GraphMode::kCapture)) return 0;
  Logits(b, m, 1, context, block_size, table_blocks, launch_len);
  b.EndGraph(true);
  auto step = [&](int seq_len) {
    if (!b.BeginGraph(1, Backend::GraphMode::kReplay)) std::abort();
    Tensor logits = Logits(b, m, 1, seq_len, block_size, table_blocks, launch_len);
    b.EndGraph(true);
    SampleRequest req;
    return b.Sample(logits, {&req, 1})[0].token;
  };
  for (int i = 0; i < 3; ++i) step(context);
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) step(context + i);
  return Seconds(t0) / steps;
}

}  // namespace
}  // namespace tg::backend

int main(int argc, char** argv) {
  using namespace tg::backend;
  std::string out_path;
  Shape shape;
  int profile_batch = 0, profile_prompt = 0;
  std::vector<std::string> mask_tokenizers;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--layers") == 0 && i + 1 < argc) {
      shape.layers = std::atoi(argv[++i]);
    } else if (std::strcmp(argv[i], "--profile-decode") == 0 && i + 1 < argc) {
      profile_batch = std::atoi(argv[++i]);
    } else if (std::strcmp(argv[i], "--profile-prefill") == 0 && i + 1 < argc) {
      profile_prompt = std::atoi(argv[++i]);
    } else if (std::strcmp(argv[i], "--token-masks") == 0 && i + 1 < argc) {
      const std::string list = argv[++i];
      for (size_t from = 0; from <= list.size();) {
        const size_t comma = std::min(list.find(',', from), list.size());
        if (comma > from) mask_tokenizers.push_back(list.substr(from, comma - from));
        from = comma + 1;
      }
    } else {
      out_path = argv[i];
    }
  }
  if (CudaDeviceCount() == 0) {
    std::fprintf(stderr, "cuda_bench: no CUDA device\n");
    return 77;
  }
  if (profile_batch > 0) {
    ProfileDecodeStep(profile_batch, shape.layers);
    return 0;
  }
  if (!mask_tokenizers.empty()) {
    std::string all = "{\"token_masks\": [";
    try {
      const std::vector<std::string> lines = RunTokenMaskBench(mask_tokenizers, shape.layers);
      for (size_t i = 0; i < lines.size(); ++i) all += (i ? ", " : "") + lines[i];
    } catch (const std::exception& e) {
      std::fprintf(stderr, "token mask bench: %s\n", e.what());
      return 1;
    }
    all += "]}\n";
    if (!out_path.empty()) std::ofstream(out_path) << all;
    return 0;
  }
  cudaDeviceProp props{};
  cudaGetDeviceProperties(&props, 0);
  const double copy_bw = CopyBandwidth();
  const double gemm_rate = GemmRate(4096, 14336, 4096);
  std::fprintf(stderr, "copy %.1f GB/s, gemm %.1f TFLOP/s\n", copy_bw / 1e9, gemm_rate / 1e12);

  auto backend = MakeCudaBackend({.device = DeviceKind::kCuda, .cuda_graph_batch_sizes = {1}});
  const int block_size = 16, context = 512, prompt = 4096;
  Model m =
      Build(*backend, shape, (std::max(prompt, profile_prompt) + 64) / block_size + 1, block_size);
  if (profile_prompt > 0) {
    for (int i = 0; i < 2; ++i) Forward(*backend, m, profile_prompt, profile_prompt, block_size);
    backend->Synchronize();
    Check(cudaProfilerStart(), "cudaProfilerStart");
    Forward(*backend, m, profile_prompt, profile_prompt, block_size);
    backend->Synchronize();
    Check(cudaProfilerStop(), "cudaProfilerStop");
    return 0;
  }

  // Decode at batch 1 with a 512-token context.
  for (int i = 0; i < 3; ++i) Forward(*backend, m, 1, context, block_size);
  const int steps = 20;
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) Forward(*backend, m, 1, context + i, block_size);
  const double step_s = Seconds(t0) / steps;
  const double decode_bw = m.weight_bytes / step_s;

  // Breakdown: only the decode step's Linear ops (batch 1), no attention, sampling or uploads.
  double linear_only_s = 0;
  {
    Backend& b = *backend;
    Tensor h = b.Allocate(DType::kF32, {1, shape.hidden});
    Tensor act = b.Allocate(DType::kF32, {1, shape.inter});
    Tensor qo = b.Allocate(DType::kF32, {1, shape.hq * shape.d});
    Tensor kvo = b.Allocate(DType::kF32, {1, shape.hk * shape.d});
    Tensor gu = b.Allocate(DType::kF32, {1, 2 * shape.inter});
    Tensor logits = b.Allocate(DType::kF32, {1, shape.vocab});
    for (Tensor* t : {&h, &act, &qo}) Check(cudaMemset(t->data(), 0, t->bytes()), "zero");
    b.Synchronize();
    for (int rep = 0; rep < 4; ++rep) {
      if (rep == 1) {
        b.Synchronize();
        t0 = std::chrono::steady_clock::now();
      }
      for (Layer& L : m.layers) {
        b.Linear(h, L.wq, nullptr, qo);
        b.Linear(h, L.wk, nullptr, kvo);
        b.Linear(h, L.wv, nullptr, kvo);
        b.Linear(qo, L.wo, nullptr, h);
        b.Linear(h, L.gate_up, nullptr, gu);
        b.Linear(act, L.down, nullptr, h);
      }
      b.Linear(h, m.lm_head, nullptr, logits);
    }
    b.Synchronize();
    linear_only_s = Seconds(t0) / 3;
  }

  // Prefill of one 4096-token prompt.
  Forward(*backend, m, prompt, prompt, block_size);
  const int reps = 3;
  t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) Forward(*backend, m, prompt, prompt, block_size);
  const double prefill_s = Seconds(t0) / reps;
  const double linear_flops =
      2.0 * (m.linear_params - double(shape.vocab) * shape.hidden) * prompt +
      2.0 * double(shape.vocab) * shape.hidden;  // lm_head: last row only
  const double attn_flops =
      4.0 * shape.layers * shape.hq * shape.d * (double(prompt) * (prompt + 1) / 2);
  const double prefill_rate = linear_flops / prefill_s;

  // Breakdown: the 32 prefill attention calls alone, over the cache the prefill just wrote.
  double attention_s = 0;
  {
    Backend& b = *backend;
    std::vector<int32_t> table((prompt + block_size - 1) / block_size), qstart = {0, prompt},
                                                                        lens = {prompt};
    for (size_t i = 0; i < table.size(); ++i) table[i] = static_cast<int32_t>(i);
    auto ints = [&](const std::vector<int32_t>& v, std::vector<int64_t> dims) {
      Tensor t = b.Allocate(DType::kI32, dims);
      b.CopyFromHost(v.data(), t);
      return t;
    };
    AttentionBatch batch;
    batch.num_seqs = 1;
    batch.num_tokens = prompt;
    batch.max_query_len = prompt;
    batch.max_seq_len = prompt;
    batch.block_size = block_size;
    batch.query_start = ints(qstart, {2});
    batch.seq_lens = ints(lens, {1});
    batch.host_query_start = qstart;
    batch.host_seq_lens = lens;
    batch.block_tables = ints(table, {1, static_cast<int64_t>(table.size())});
    Tensor q = b.Allocate(DType::kF32, {prompt, shape.hq, shape.d});
    // The output the model hands attention (bf16 on sm_90 with bf16 weights): the figure times
    // the path a prefill takes, the float32 -> bf16 staging of q included.
    Tensor o = b.Allocate(b.AttentionOutDType(batch, m.layers.front().wo.dtype()),
                          {prompt, shape.hq, shape.d});
    Check(cudaMemset(q.data(), 0, q.bytes()), "q");
    b.Synchronize();
    const float scale = 1.f / std::sqrt(float(shape.d));
    b.PrefillAttention(q, m.layers[0].k_cache, m.layers[0].v_cache, batch, scale, o);
    b.Synchronize();
    t0 = std::chrono::steady_clock::now();
    for (Layer& L : m.layers) b.PrefillAttention(q, L.k_cache, L.v_cache, batch, scale, o);
    b.Synchronize();
    attention_s = Seconds(t0);
  }

  // Breakdown: the prefill's Linear ops alone (M = 4096 rows), as the model calls them (float32
  // activations in and out, so the bf16 conversion of the input is counted, except o_proj's,
  // whose input is the attention output in AttentionOutDType).
  double linear_4096_s = 0;
  {
    Backend& b = *backend;
    Tensor h = b.Allocate(DType::kF32, {prompt, shape.hidden});
    Tensor qo = b.Allocate(DType::kF32, {prompt, shape.hq * shape.d});
    AttentionBatch prompt_step;
    prompt_step.max_query_len = prompt;
    Tensor attn_rows = b.Allocate(b.AttentionOutDType(prompt_step, m.layers.front().wo.dtype()),
                                  {prompt, shape.hq * shape.d});
    Tensor kvo = b.Allocate(DType::kF32, {prompt, shape.hk * shape.d});
    Tensor gu = b.Allocate(DType::kF32, {prompt, 2 * shape.inter});
    Tensor act = b.Allocate(DType::kF32, {prompt, shape.inter});
    for (Tensor* t : {&h, &qo, &attn_rows, &act})
      Check(cudaMemset(t->data(), 0, t->bytes()), "zero");
    auto layers = [&] {
      for (Layer& L : m.layers) {
        b.Linear(h, L.wq, nullptr, qo);
        b.Linear(h, L.wk, nullptr, kvo);
        b.Linear(h, L.wv, nullptr, kvo);
        b.Linear(attn_rows, L.wo, nullptr, h);
        b.Linear(h, L.gate_up, nullptr, gu);
        b.Linear(act, L.down, nullptr, h);
      }
    };
    layers();
    b.Synchronize();
    t0 = std::chrono::steady_clock::now();
    layers();
    b.Synchronize();
    linear_4096_s = Seconds(t0);
  }
  const double linear_4096_flops =
      2.0 * (m.linear_params - double(shape.vocab) * shape.hidden) * prompt;

  // Prefill attention alone: ours against FlashInfer's on the same batches.
  backend->Synchronize();
  const std::vector<tg::bench::PrefillAttentionResult> attention_cases =
      tg::bench::RunPrefillAttentionBench(tg::bench::DefaultPrefillAttentionCases(), shape.hq,
                                          shape.hk, shape.d);
  std::string cases_json;
  for (const tg::bench::PrefillAttentionResult& r : attention_cases) {
    std::printf("%s\n", r.Json().c_str());
    cases_json += (cases_json.empty() ? "" : ", ") + r.Json();
  }
  // The headline is the serving path's rate on causal 4k: FlashInfer's kernel when in use.
  const tg::bench::PrefillAttentionResult& causal = attention_cases.front();
  const bool flashinfer = causal.flashinfer_ms > 0;
  const double attention_tflops =
      causal.flops / ((flashinfer ? causal.flashinfer_ms : causal.ours_ms) * 1e-3) / 1e12;

  // Last, so a failing capture cannot cost the numbers above.
  double graph_step_s = 0;
  try {
    graph_step_s = GraphDecodeStep(*backend, m, context, steps, block_size);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "decode graph: %s\n", e.what());
  }
  const double graph_bw = graph_step_s > 0 ? m.weight_bytes / graph_step_s : 0;
  std::fprintf(stderr, "decode step: eager %.3f ms, graph %.3f ms\n", step_s * 1e3,
               graph_step_s * 1e3);

  char json[2048], more[4096];
  std::snprintf(
      json, sizeof(json),
      "{\"device\": \"%s\", \"layers\": %d, \"copy_bandwidth_GBps\": %.1f, "
      "\"gemm_bf16_TFLOPs\": %.1f, \"weight_bytes_per_token\": %llu, "
      "\"decode_step_ms\": %.3f, \"decode_weight_GBps\": %.1f, \"decode_roofline\": %.3f, "
      "\"prefill_4096_ms\": %.2f, \"prefill_linear_TFLOPs\": %.1f, "
      "\"prefill_with_attention_TFLOPs\": %.1f, \"prefill_vs_gemm\": %.3f, "
      "\"prefill_attention_only_ms\": %.2f, \"attention_TFLOPs\": %.1f, "
      "\"decode_linear_only_ms\": %.3f, \"decode_linear_only_GBps\": %.1f, "
      "\"decode_graph_step_ms\": %.3f, \"decode_graph_GBps\": %.1f, "
      "\"decode_graph_roofline\": %.3f}\n",
      props.name, shape.layers, copy_bw / 1e9, gemm_rate / 1e12,
      static_cast<unsigned long long>(m.weight_bytes), step_s * 1e3, decode_bw / 1e9,
      decode_bw / copy_bw, prefill_s * 1e3, prefill_rate / 1e12,
      (linear_flops + attn_flops) / prefill_s / 1e12, prefill_rate / gemm_rate, attention_s * 1e3,
      attn_flops / attention_s / 1e12, linear_only_s * 1e3, m.weight_bytes / linear_only_s / 1e9,
      graph_step_s * 1e3, graph_bw / 1e9, graph_bw / copy_bw);
  // The fields of issue 18, appended to the summary object.
  json[std::strlen(json) - 2] = '\0';  // drop "}\n"
  std::snprintf(more, sizeof(more),
                "%s, \"prefill_4096_vs_gemm\": %.3f, \"prefill_attention_tflops\": %.1f, "
                "\"prefill_attention_kernel\": \"%s\", \"linear_4096_ms\": %.2f, "
                "\"linear_4096_TFLOPs\": %.1f, \"linear_4096_vs_gemm\": %.3f, "
                "\"prefill_attention_cases\": [%s]}\n",
                json, (linear_flops + attn_flops) / prefill_s / gemm_rate, attention_tflops,
                flashinfer ? "flashinfer_sm90" : "ours_tensor_core", linear_4096_s * 1e3,
                linear_4096_flops / linear_4096_s / 1e12,
                linear_4096_flops / linear_4096_s / gemm_rate, cases_json.c_str());
  std::fputs(more, stdout);

  // The decode figures (decode_bench.h), one JSON line each, also kept in the output file.
  std::string all = more;
  all.resize(all.rfind('}'));
  all += ", \"decode_figures\": [";
  try {
    const std::vector<std::string> figures = RunDecodeBench(copy_bw, shape.layers);
    for (size_t i = 0; i < figures.size(); ++i) all += (i ? ", " : "") + figures[i];
  } catch (const std::exception& e) {
    std::fprintf(stderr, "decode bench: %s\n", e.what());
  }
  all += "]}\n";
  if (!out_path.empty()) std::ofstream(out_path) << all;
  return 0;
}
