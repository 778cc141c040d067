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
// Every step is the real model's (bench_model.h: shard::LlamaModel over random bf16 weights, the
// batches of shard::ForwardBatchBuilder, decode graphs captured and replayed by the engine's
// DecodeGraphRunner), greedy sampling included; the breakdowns run single ops in its shapes.
// With --token-masks, only the constrained-decoding figures of token_mask_bench.h, for the given
// tokenizers (comma-separated), written as {"token_masks": [...]}.
// --profile-decode / --profile-prefill: only one decode step (decode_bench.h ProfileDecodeStep)
// or one prompt of TOKENS tokens between cudaProfilerStart/Stop, for ncu --profile-from-start off.
// usage: cuda_bench [OUTPUT.json] [--layers N] [--token-masks TOKENIZER[,TOKENIZER...]]
//                   [--profile-decode BATCH] [--profile-prefill TOKENS]
#include <cuda_profiler_api.h>
#include <cuda_runtime.h>
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <limits>
#include <memory>
#include <source_location>
#include <string>
#include <vector>

#include "kernels/gemm.h"
#include "kernels/prefill_hopper.h"
#include "shard/backend/cuda/cuda_backend.h"
#include "shard/backend/cuda/cuda_check.h"
#include "shard/engine/attention_inputs.h"
#include "tests/kernels/bench_model.h"
#include "tests/kernels/decode_bench.h"
#include "tests/kernels/prefill_attention_bench.h"
#include "tests/kernels/token_mask_bench.h"

namespace tg::backend {
namespace {

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

// The backend's stream: its tensors are filled there, in order with its ops.
cudaStream_t Stream(Backend& b) { return static_cast<cudaStream_t>(b.NativeStream()); }

// The greedy token after one forward of `batch` (a prompt, or an eager decode step).
int32_t ForwardAndSample(bench::BenchModel& m, const tg::shard::ForwardBatch& batch) {
  std::vector<SampleRequest> requests(batch.logit_rows.size());
  return m.backend().Sample(m.model().Forward(batch), requests)[0].token;
}

// Weights in the shapes of the model's Linear ops (LayerLinearShapes, one set per layer as the
// model holds them, so that every call reads its weights from HBM, and lm_head), for the
// breakdowns that time the Linear ops alone: LlamaModel does not hand out its own. Filled with a
// tiny constant, which does not change the timing.
struct LinearWeights {
  std::vector<std::vector<Tensor>> layers;  // LayerLinearShapes order
  Tensor lm_head;
};

LinearWeights MakeLinearWeights(Backend& b, const tg::model::ModelConfig& config) {
  auto weight = [&](int64_t rows, int64_t cols) {
    Tensor t = b.Allocate(DType::kBF16, {rows, cols});
    Check(cudaMemsetAsync(t.data(), 0x20, t.bytes(), Stream(b)), "cudaMemset");
    return t;
  };
  LinearWeights w;
  for (uint32_t l = 0; l < config.num_hidden_layers; ++l) {
    std::vector<Tensor> layer;
    for (const tg::bench::LinearShape& s : tg::bench::LayerLinearShapes(config)) {
      layer.push_back(weight(s.rows, s.cols));
    }
    w.layers.push_back(std::move(layer));
  }
  w.lm_head = weight(config.vocab_size, config.hidden_size);
  return w;
}

// Seconds of the Linear ops of one forward over `rows` token rows as shard::LlamaModel issues
// them, with its input dtypes (ActivationDType rows into q|k|v, gate|up and down, which
// SiluAndMulLinear feeds so; AttentionOutDType rows into o_proj; float32 into lm_head): q|k|v
// fused up to 256 rows (llama.cc's kFusedQkvMaxTokens), three GEMMs over row ranges of the fused
// weight above; lm_head over one row when `lm_head`. `reps` passes after a warm-up one.
double LinearOpsSeconds(Backend& b, const LinearWeights& w, const tg::model::ModelConfig& config,
                        int rows, bool lm_head, int reps) {
  const int64_t n = rows, hidden = config.hidden_size, inter = config.intermediate_size;
  const int64_t q_dim = int64_t{config.num_attention_heads} * config.head_dim;
  const int64_t kv_dim = int64_t{config.num_key_value_heads} * config.head_dim;
  AttentionBatch step;
  step.max_query_len = rows;
  Tensor normed = b.Allocate(b.ActivationDType(DType::kBF16), {n, hidden});
  Tensor attn = b.Allocate(b.AttentionOutDType(step, DType::kBF16), {n, q_dim});
  Tensor act = b.Allocate(b.ActivationDType(DType::kBF16), {n, inter});
  Tensor last = b.Allocate(DType::kF32, {1, hidden});
  Tensor qkv = b.Allocate(DType::kF32, {n, q_dim + 2 * kv_dim});
  Tensor q = b.Allocate(DType::kF32, {n, q_dim}), k = b.Allocate(DType::kF32, {n, kv_dim}),
         v = b.Allocate(DType::kF32, {n, kv_dim});
  Tensor* split[3] = {&q, &k, &v};
  Tensor branch = b.Allocate(DType::kF32, {n, hidden});
  Tensor gate_up = b.Allocate(DType::kF32, {n, 2 * inter});
  Tensor logits = b.Allocate(DType::kF32, {1, static_cast<int64_t>(config.vocab_size)});
  for (Tensor* t : {&normed, &attn, &act, &last}) {
    Check(cudaMemsetAsync(t->data(), 0, t->bytes(), Stream(b)), "zero");
  }
  const bool fused_qkv = rows <= 256;
  const int64_t offsets[4] = {0, q_dim, q_dim + kv_dim, q_dim + 2 * kv_dim};
  auto pass = [&] {
    for (const std::vector<Tensor>& layer : w.layers) {
      if (fused_qkv) {
        b.Linear(normed, layer[0], nullptr, qkv);
      } else {
        for (int part = 0; part < 3; ++part) {
          const int64_t count = offsets[part + 1] - offsets[part];
          b.Linear(normed, layer[0].Rows(offsets[part], count), nullptr, *split[part]);
        }
      }
      b.Linear(attn, layer[1], nullptr, branch);
      b.Linear(normed, layer[2], nullptr, gate_up);
      b.Linear(act, layer[3], nullptr, branch);
    }
    if (lm_head) b.Linear(last, w.lm_head, nullptr, logits);
  };
  pass();
  b.Synchronize();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) pass();
  b.Synchronize();
  return Seconds(t0) / reps;
}

// Seconds of the prefill attention calls of every layer over `prompt`'s cache (which a prefill of
// it wrote), with the AttentionBatch the model builds for it (UploadAttentionInputs) and an output
// in the dtype the model hands attention (bf16 on sm_90 with bf16 weights, so the figure times
// the path a prefill takes, the float32 -> bf16 staging of q included).
double PrefillAttentionSeconds(bench::BenchModel& m, const tg::shard::ForwardBatch& prompt) {
  Backend& b = m.backend();
  shard::KvPool& pool = m.model().kv_pool();
  const tg::model::ModelConfig& c = m.config();
  const shard::AttentionInputs inputs = shard::UploadAttentionInputs(prompt, pool, b);
  const int64_t n = prompt.num_tokens();
  Tensor q = b.Allocate(DType::kF32, {n, int64_t{c.num_attention_heads}, int64_t{c.head_dim}});
  Tensor o = b.Allocate(b.AttentionOutDType(inputs.whole, DType::kBF16),
                        {n, int64_t{c.num_attention_heads}, int64_t{c.head_dim}});
  Check(cudaMemsetAsync(q.data(), 0, q.bytes(), Stream(b)), "q");
  const float scale = 1.f / std::sqrt(float(c.head_dim));
  b.PrefillAttention(q, pool.keys()[0], pool.values()[0], inputs.whole, scale, o);
  b.Synchronize();
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t l = 0; l < pool.keys().size(); ++l) {
    b.PrefillAttention(q, pool.keys()[l], pool.values()[l], inputs.whole, scale, o);
  }
  b.Synchronize();
  return Seconds(t0);
}

}  // namespace
}  // namespace tg::backend

namespace {

int Main(int argc, char** argv) {
  using namespace tg::backend;
  namespace bench = tg::bench;
  // The model's loader reads each weight into new host vectors of up to a GB, which glibc would
  // map and unmap every time, so that the kernel zeroes every page again; kept in the heap they
  // are reused, and the host side of loading the 8B shape takes about 2.5x less time.
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());
  std::string out_path;
  int layers = 32;
  int profile_batch = 0, profile_prompt = 0;
  std::vector<std::string> mask_tokenizers;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--layers") == 0 && i + 1 < argc) {
      layers = std::atoi(argv[++i]);
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
  if (layers < 1 || profile_batch < 0 || profile_prompt < 0) {
    std::fprintf(stderr, "cuda_bench: --layers must be >= 1, --profile-* sizes >= 0\n");
    return 2;
  }
  if (CudaDeviceCount() == 0) {
    std::fprintf(stderr, "cuda_bench: no CUDA device\n");
    return 77;
  }
  if (profile_batch > 0) {
    ProfileDecodeStep(profile_batch, layers);
    return 0;
  }
  if (!mask_tokenizers.empty()) {
    std::string all = "{\"token_masks\": [";
    try {
      const std::vector<std::string> lines = RunTokenMaskBench(mask_tokenizers, layers);
      for (size_t i = 0; i < lines.size(); ++i) all += (i ? ", " : "") + lines[i];
    } catch (const std::exception& e) {
      std::fprintf(stderr, "token mask bench: %s\n", e.what());
      return 1;
    }
    all += "]}\n";
    if (!out_path.empty()) std::ofstream(out_path) << all;
    return 0;
  }
  const int context = kDecodeContext, prompt = 4096, steps = 20;
  if (profile_prompt > 0) {
    auto backend = MakeCudaBackend({.device = DeviceKind::kCuda});
    auto m = MakeDecodeBenchModel(*backend, layers, bench::kLlama3Vocab, 1, profile_prompt);
    const tg::shard::ForwardBatch batch = m->Prompt(profile_prompt);
    for (int i = 0; i < 2; ++i) ForwardAndSample(*m, batch);
    backend->Synchronize();
    Check(cudaProfilerStart(), "cudaProfilerStart");
    ForwardAndSample(*m, batch);
    backend->Synchronize();
    Check(cudaProfilerStop(), "cudaProfilerStop");
    return 0;
  }
  cudaDeviceProp props{};
  cudaGetDeviceProperties(&props, 0);
  const double copy_bw = CopyBandwidth();
  const double gemm_rate = GemmRate(4096, 14336, 4096);
  std::fprintf(stderr, "copy %.1f GB/s, gemm %.1f TFLOP/s\n", copy_bw / 1e9, gemm_rate / 1e12);

  // One model for every figure: graphs for each batch of the decode sweep, room for its 64
  // sequences and for the prompt.
  auto backend = MakeCudaBackend(
      {.device = DeviceKind::kCuda,
       .cuda_graph_batch_sizes = std::vector<int>(kDecodeBatches.begin(), kDecodeBatches.end())});
  std::unique_ptr<bench::BenchModel> model =
      MakeDecodeBenchModel(*backend, layers, bench::kLlama3Vocab, kDecodeBatches.back(), prompt);
  bench::BenchModel& m = *model;
  const tg::model::ModelConfig& config = m.config();
  const uint64_t weight_bytes = m.decode_weight_bytes();

  // Decode at batch 1 with a 512-token context, eager.
  for (int i = 0; i < 3; ++i) ForwardAndSample(m, m.Decode(1, context));
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) ForwardAndSample(m, m.Decode(1, context + i));
  const double step_s = Seconds(t0) / steps;
  const double decode_bw = weight_bytes / step_s;

  // Breakdowns of the Linear ops alone: the decode step's (batch 1, lm_head included, no
  // attention, sampling or uploads) and the prefill's (M = 4096 rows, no lm_head).
  double linear_only_s = 0, linear_4096_s = 0;
  {
    const LinearWeights weights = MakeLinearWeights(*backend, config);
    linear_only_s = LinearOpsSeconds(*backend, weights, config, 1, true, 3);
    linear_4096_s = LinearOpsSeconds(*backend, weights, config, prompt, false, 1);
  }

  // Prefill of one 4096-token prompt.
  const tg::shard::ForwardBatch prompt_batch = m.Prompt(prompt);
  ForwardAndSample(m, prompt_batch);
  const int reps = 3;
  t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) ForwardAndSample(m, prompt_batch);
  const double prefill_s = Seconds(t0) / reps;
  const double vocab_params = double(config.vocab_size) * config.hidden_size;
  const double linear_flops = 2.0 * (m.linear_params() - vocab_params) * prompt +
                              2.0 * vocab_params;  // lm_head: last row only
  const double attn_flops = 4.0 * layers * config.num_attention_heads * config.head_dim *
                            (double(prompt) * (prompt + 1) / 2);
  const double prefill_rate = linear_flops / prefill_s;

  // Breakdown: the prefill attention calls alone, over the cache the prefill just wrote.
  const double attention_s = PrefillAttentionSeconds(m, prompt_batch);
  const double linear_4096_flops = 2.0 * (m.linear_params() - vocab_params) * prompt;

  // Prefill attention alone: ours against FlashInfer's on the same batches.
  backend->Synchronize();
  const std::vector<tg::bench::PrefillAttentionResult> attention_cases =
      tg::bench::RunPrefillAttentionBench(
          tg::bench::DefaultPrefillAttentionCases(), static_cast<int>(config.num_attention_heads),
          static_cast<int>(config.num_key_value_heads), static_cast<int>(config.head_dim));
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

  // Last, so a failing capture cannot cost the numbers above: the decode graphs, as the engine
  // captures them at warm-up, then batch 1 replayed.
  double graph_step_s = 0;
  try {
    m.CaptureGraphs(kDecodeBatches.back());
    graph_step_s = DecodeGraphStepMs(m, 1, steps) / 1e3;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "decode graph: %s\n", e.what());
  }
  const double graph_bw = graph_step_s > 0 ? weight_bytes / graph_step_s : 0;
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
      props.name, layers, copy_bw / 1e9, gemm_rate / 1e12,
      static_cast<unsigned long long>(weight_bytes), step_s * 1e3, decode_bw / 1e9,
      decode_bw / copy_bw, prefill_s * 1e3, prefill_rate / 1e12,
      (linear_flops + attn_flops) / prefill_s / 1e12, prefill_rate / gemm_rate, attention_s * 1e3,
      attn_flops / attention_s / 1e12, linear_only_s * 1e3, weight_bytes / linear_only_s / 1e9,
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
    const std::vector<std::string> figures = RunDecodeBench(copy_bw, m);
    for (size_t i = 0; i < figures.size(); ++i) all += (i ? ", " : "") + figures[i];
  } catch (const std::exception& e) {
    std::fprintf(stderr, "decode bench: %s\n", e.what());
  }
  all += "]}\n";
  if (!out_path.empty()) std::ofstream(out_path) << all;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cuda_bench: %s\n", e.what());
    return 1;
  }
}
