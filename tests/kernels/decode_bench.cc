// Decode benchmarks (decode_bench.h). The step figures run the real model (bench_model.h:
// shard::LlamaModel in the Llama-3-8B shape over random bf16 weights, a bf16 KV cache written by a
// real prefill, batches from ForwardBatchBuilder, CUDA graphs captured and replayed by the
// engine's DecodeGraphRunner); the Linear and attention sweeps time the kernels alone, in the
// model's shapes.
#include "tests/kernels/decode_bench.h"

#include <cublasLt.h>
#include <cuda_profiler_api.h>
#include <cuda_runtime.h>

#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <source_location>
#include <stdexcept>
#include <string>

#include "kernels/attention.h"
#include "kernels/gemm.h"
#include "shard/backend/cuda/cuda_backend.h"
#include "shard/backend/cuda/cuda_check.h"
#include "tests/kernels/bench_model.h"

namespace tg::backend {
namespace {

// The dimensions of the Linear and attention sweeps: the benchmarks' Llama-3-8B shape.
struct Dims {
  int hidden, inter, heads, kv_heads, head_dim, vocab;
  int qkv_rows() const { return (heads + 2 * kv_heads) * head_dim; }
};
Dims Llama3_8BDims() {
  const model::ModelConfig c = bench::Llama3_8BConfig(1);
  return {static_cast<int>(c.hidden_size),
          static_cast<int>(c.intermediate_size),
          static_cast<int>(c.num_attention_heads),
          static_cast<int>(c.num_key_value_heads),
          static_cast<int>(c.head_dim),
          static_cast<int>(c.vocab_size)};
}

// Throws tg::Error naming the device and the caller's file and line (the caller catches it).
void Check(cudaError_t e, const char* what,
           std::source_location where = std::source_location::current()) {
  cuda::CheckCuda(e, what, where);
}

// Milliseconds per call of fn() on `stream`, after warm-up.
template <typename Fn>
double TimeMs(cudaStream_t stream, int reps, Fn&& fn) {
  for (int i = 0; i < 2; ++i) fn();
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  cudaEventRecord(start, stream);
  for (int i = 0; i < reps; ++i) fn();
  cudaEventRecord(stop, stream);
  Check(cudaEventSynchronize(stop), "timing");
  float ms = 0;
  cudaEventElapsedTime(&ms, start, stop);
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return ms / reps;
}

std::string Emit(std::vector<std::string>* lines, const char* format, ...)
    __attribute__((format(printf, 2, 3)));
std::string Emit(std::vector<std::string>* lines, const char* format, ...) {
  char buf[1024];
  va_list args;
  va_start(args, format);
  std::vsnprintf(buf, sizeof(buf), format, args);
  va_end(args);
  std::printf("%s\n", buf);
  std::fflush(stdout);
  lines->push_back(buf);
  return buf;
}

Tensor Ints(Backend& b, const std::vector<int32_t>& v, std::vector<int64_t> shape) {
  Tensor t = b.Allocate(DType::kI32, std::move(shape));
  b.CopyFromHost(v.data(), t);
  return t;
}

// Milliseconds per decode step of `seqs` sequences at `context` tokens, replayed from the
// model's decode graph (captured by the caller for contexts up to the layout's), greedy sampling
// included (as the engine): one figure per variant, whose hook runs on the host between the
// replay and Sample, as the engine's mask filling does.
std::vector<double> GraphStepsMs(bench::BenchModel& m, int seqs, int context, int steps,
                                 const std::vector<BeforeSample>& variants) {
  Backend& b = m.backend();
  std::vector<double> ms;
  for (const BeforeSample& before_sample : variants) {
    std::vector<SampleRequest> requests(seqs);
    auto step = [&](int len) {
      Tensor logits = m.GraphForward(m.Decode(seqs, len));
      if (before_sample) before_sample(requests);
      b.Sample(logits, requests);
    };
    for (int i = 0; i < 3; ++i) step(context);
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < steps; ++i) step(context + i);
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() /
        steps);
  }
  return ms;
}

double GraphStepMs(bench::BenchModel& m, int seqs, int context, int steps) {
  return GraphStepsMs(m, seqs, context, steps, {nullptr})[0];
}

// K and V bytes that `seqs` sequences of `context` tokens read per step over `layers` layers.
uint64_t KvBytes(const Dims& d, DType kv_dtype, int seqs, int context, int layers) {
  return 2ull * seqs * context * layers * d.kv_heads * d.head_dim * DTypeSize(kv_dtype);
}

// Decode step times at batch 1..64 (each of the model's captured graph sizes) and 512 context.
void StepSweep(bench::BenchModel& m, double copy_bw, std::vector<std::string>* lines) {
  Backend& b = m.backend();
  const int context = kDecodeContext, steps = 20;
  const int layers = static_cast<int>(m.config().num_hidden_layers);
  double bs1 = 0, bs8 = 0, previous = 0;
  bool never_decreases = true;
  for (int seqs : kDecodeBatches) {
    const double ms = GraphStepMs(m, seqs, context, steps);
    const uint64_t bytes =
        m.decode_weight_bytes() + KvBytes(Llama3_8BDims(), b.KvDType(), seqs, context, layers);
    const double roofline_ms = bytes / copy_bw * 1e3;
    Emit(lines,
         "{\"name\": \"decode_step\", \"batch\": %d, \"context\": %d, \"step_ms\": %.3f, "
         "\"bytes\": %llu, \"roofline_ms\": %.3f, \"vs_roofline\": %.3f}",
         seqs, context, ms, static_cast<unsigned long long>(bytes), roofline_ms, roofline_ms / ms);
    if (seqs == 1) {
      bs1 = ms;
      Emit(lines,
           "{\"name\": \"decode_bs1_vs_roofline\", \"value\": %.3f, \"step_ms\": %.3f, "
           "\"roofline_ms\": %.3f, \"context\": %d}",
           roofline_ms / ms, ms, roofline_ms, context);
    }
    if (seqs == 8) bs8 = ms;
    if (seqs == 64) {
      Emit(lines,
           "{\"name\": \"decode_bs64_vs_roofline\", \"value\": %.3f, \"step_ms\": %.3f, "
           "\"roofline_ms\": %.3f, \"context\": %d}",
           roofline_ms / ms, ms, roofline_ms, context);
    }
    never_decreases = never_decreases && ms >= previous * 0.99;  // 1% timing noise
    previous = ms;
  }
  Emit(lines,
       "{\"name\": \"decode_bs8_over_bs1\", \"value\": %.3f, \"bs1_ms\": %.3f, \"bs8_ms\": %.3f}",
       bs8 / bs1, bs1, bs8);
  Emit(lines, "{\"name\": \"decode_step_never_decreases\", \"value\": %s}",
       never_decreases ? "true" : "false");
}

// The fastest of cuBLASLt's heuristic candidates (split-K ones included) for the bf16 GEMM
// y[m, n] = x[m, k] w[n, k]^T with float32 output, in milliseconds; 0 when none runs.
double BestCublasLtMs(cublasLtHandle_t handle, int m, int n, int k, const void* x, const void* w,
                      void* y, void* workspace, cudaStream_t stream, int* candidates) {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulPreference_t pref = nullptr;
  const cublasOperation_t transa = CUBLAS_OP_T, transb = CUBLAS_OP_N;
  const size_t ws_bytes = kernels::kGemmWorkspaceBytes;
  cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F);
  cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &transa, sizeof(transa));
  cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &transb, sizeof(transb));
  cublasLtMatrixLayoutCreate(&a, CUDA_R_16BF, k, n, k);
  cublasLtMatrixLayoutCreate(&b, CUDA_R_16BF, k, m, k);
  cublasLtMatrixLayoutCreate(&c, CUDA_R_32F, n, m, n);
  cublasLtMatmulPreferenceCreate(&pref);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws_bytes,
                                       sizeof(ws_bytes));
  cublasLtMatmulHeuristicResult_t results[16] = {};
  int found = 0;
  cublasLtMatmulAlgoGetHeuristic(handle, op, a, b, c, c, pref, 16, results, &found);
  double best = 0;
  const float alpha = 1.f, beta = 0.f;
  for (int i = 0; i < found; ++i) {
    auto run = [&] {
      return cublasLtMatmul(handle, op, &alpha, w, a, x, b, &beta, y, c, y, c, &results[i].algo,
                            workspace, ws_bytes, stream);
    };
    if (run() != CUBLAS_STATUS_SUCCESS) continue;
    const double ms = TimeMs(stream, 10, run);
    if (best == 0 || ms < best) best = ms;
  }
  *candidates = found;
  cublasLtMatmulPreferenceDestroy(pref);
  cublasLtMatrixLayoutDestroy(a);
  cublasLtMatrixLayoutDestroy(b);
  cublasLtMatrixLayoutDestroy(c);
  cublasLtMatmulDescDestroy(op);
  return best;
}

// Linear at decode row counts: our skinny kernel, cuBLASLt as the backend calls it (bf16 x,
// the heuristic's first algorithm) and the best of its candidates, per weight shape, as weight
// bytes per second.
void LinearSweep(double copy_bw, std::vector<std::string>* lines) {
  const Dims d = Llama3_8BDims();
  struct Shape {
    const char* name;
    int n, k;
  };
  const Shape shapes[] = {{"qkv", d.qkv_rows(), d.hidden},
                          {"q", d.heads * d.head_dim, d.hidden},
                          {"kv", d.kv_heads * d.head_dim, d.hidden},
                          {"gate_up", 2 * d.inter, d.hidden},
                          {"down", d.hidden, d.inter},
                          {"lm_head", d.vocab, d.hidden}};
  auto ctx = kernels::GemmContext::Create();
  const int max_m = 64;
  void *x, *xb, *w, *y, *ws;
  Check(cudaMalloc(&x, size_t(max_m) * d.inter * 4), "x");
  Check(cudaMalloc(&xb, size_t(max_m) * d.inter * 2), "x bf16");
  Check(cudaMalloc(&w, size_t(d.vocab) * d.hidden * 2), "w");
  Check(cudaMalloc(&y, size_t(max_m) * d.vocab * 4), "y");
  Check(cudaMalloc(&ws, kernels::kGemmWorkspaceBytes), "workspace");
  cudaMemset(x, 0, size_t(max_m) * d.inter * 4);
  cudaMemset(xb, 0, size_t(max_m) * d.inter * 2);
  cudaMemset(w, 0x20, size_t(d.vocab) * d.hidden * 2);
  cudaStream_t stream = nullptr;
  Check(cudaStreamCreate(&stream), "stream");
  cublasLtHandle_t handle = nullptr;
  if (cublasLtCreate(&handle) != CUBLAS_STATUS_SUCCESS) throw std::runtime_error("cublasLtCreate");
  for (const Shape& s : shapes) {
    for (int m : {1, 2, 3, 4, 8, 12, 16, 32, 64}) {
      kernels::SkinnyGemmParams sk;
      sk.x = static_cast<const float*>(x);
      sk.w = w;
      sk.y = static_cast<float*>(y);
      sk.m = m;
      sk.n = s.n;
      sk.k = s.k;
      kernels::GemmParams g;
      g.dtype = kernels::DType::kBFloat16;
      g.out_dtype = kernels::DType::kFloat32;
      g.x = xb;
      g.w = w;
      g.y = y;
      g.m = m;
      g.n = s.n;
      g.k = s.k;
      g.workspace = ws;
      g.workspace_bytes = kernels::kGemmWorkspaceBytes;
      const double ours_ms = TimeMs(
          stream, 20, [&] { kernels::SkinnyGemm(sk, reinterpret_cast<kernels::Stream>(stream)); });
      const double lt_ms =
          TimeMs(stream, 20, [&] { ctx->Run(g, reinterpret_cast<kernels::Stream>(stream)); });
      int candidates = 0;
      const double best_ms = BestCublasLtMs(handle, m, s.n, s.k, xb, w, y, ws, stream, &candidates);
      Check(cudaGetLastError(), "linear sweep");
      const double bytes = 2.0 * s.n * s.k;
      const double ours = bytes / (ours_ms * 1e-3), lt = bytes / (lt_ms * 1e-3);
      const double best = best_ms > 0 ? bytes / (best_ms * 1e-3) : 0;
      Emit(lines,
           "{\"name\": \"linear\", \"shape\": \"%s\", \"n\": %d, \"k\": %d, \"m\": %d, "
           "\"ours_GBps\": %.1f, \"cublaslt_GBps\": %.1f, \"cublaslt_best_GBps\": %.1f, "
           "\"cublaslt_candidates\": %d, \"ours_vs_copy\": %.3f, \"cublaslt_best_vs_copy\": %.3f}",
           s.name, s.n, s.k, m, ours / 1e9, lt / 1e9, best / 1e9, candidates, ours / copy_bw,
           best / copy_bw);
    }
  }
  cublasLtDestroy(handle);
  cudaStreamDestroy(stream);
  for (void* p : {x, xb, w, y, ws}) cudaFree(p);
}

// Seconds per launch of `p`'s kernel over `tables` (one launch per table, each reading its own
// part of the cache as the layers of a step do, so that the KV comes from HBM rather than L2),
// the launches captured in a CUDA graph and replayed, as decode steps are.
double DecodeAttentionSeconds(kernels::DecodeAttentionParams p, const std::vector<Tensor>& tables,
                              cudaStream_t stream) {
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  Check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "capture");
  kernels::Status status = kernels::Status::kOk;
  for (const Tensor& table : tables) {
    p.block_tables = table.data_as<int32_t>();
    if (status == kernels::Status::kOk) status = kernels::DecodeAttention(p, stream);
  }
  Check(cudaStreamEndCapture(stream, &graph), "capture");
  if (status != kernels::Status::kOk) {
    cudaGraphDestroy(graph);
    throw std::runtime_error(std::string("DecodeAttention: ") + kernels::ToString(status));
  }
  Check(cudaGraphInstantiate(&exec, graph, 0), "graph instantiate");
  const int replays = 5;
  const double ms =
      TimeMs(stream, replays, [&] { Check(cudaGraphLaunch(exec, stream), "replay"); });
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  return ms * 1e-3 / tables.size();
}

// One layer's decode attention (tile merge included) at batch 1, 8 and 64 from 512 to 32k
// context: KV bytes read per second by our kernel and by FlashInfer's on the same launches, and
// which of them DecodeAttention picks (kernels::DecodeKernelFor).
void AttentionSweep(Backend& b, double copy_bw, std::vector<std::string>* lines) {
  const Dims d = Llama3_8BDims();
  const int block = bench::BenchModel::kBlockSize;
  const int max_context = 32768, slots = 64, launches = 32;
  const int blocks_per_seq = max_context / block;
  const int64_t blocks = static_cast<int64_t>(slots) * blocks_per_seq;
  Tensor k_cache = b.Allocate(b.KvDType(), {blocks, block, d.kv_heads, d.head_dim});
  Tensor v_cache = b.Allocate(b.KvDType(), {blocks, block, d.kv_heads, d.head_dim});
  Check(cudaMemset(k_cache.data(), 0, k_cache.bytes()), "kv");
  Check(cudaMemset(v_cache.data(), 0, v_cache.bytes()), "kv");
  const auto stream = static_cast<cudaStream_t>(b.NativeStream());
  for (int seqs : {1, 8, 64}) {
    Tensor q = b.Allocate(DType::kF32, {seqs, d.heads, d.head_dim});
    Tensor out = b.Allocate(DType::kF32, {seqs, d.heads, d.head_dim});
    Check(cudaMemset(q.data(), 0, q.bytes()), "q");
    for (int context = 512; context <= max_context; context *= 2) {
      // Launch r, sequence s reads region g = r * seqs + s: slot g % slots, and within the
      // slot's max_context tokens the (g / slots)-th stretch of `context` tokens.
      const int columns = context / block;
      const int stretches = blocks_per_seq / columns;
      std::vector<Tensor> tables;
      for (int r = 0; r < launches; ++r) {
        std::vector<int32_t> table(static_cast<size_t>(seqs) * columns);
        for (int s = 0; s < seqs; ++s) {
          const int g = r * seqs + s;
          const int first = (g % slots) * blocks_per_seq + (g / slots) % stretches * columns;
          for (int c = 0; c < columns; ++c) table[static_cast<size_t>(s) * columns + c] = first + c;
        }
        tables.push_back(Ints(b, table, {seqs, columns}));
      }
      Tensor lens = Ints(b, std::vector<int32_t>(seqs, context), {seqs});
      kernels::DecodeAttentionParams p;
      p.dtype = b.KvDType() == DType::kF16 ? kernels::DType::kFloat16 : kernels::DType::kBFloat16;
      p.q = q.data_as<float>();
      p.q_stride = p.out_stride = d.heads * d.head_dim;
      p.k_cache = k_cache.data();
      p.v_cache = v_cache.data();
      p.max_blocks_per_seq = columns;
      p.context_lens = lens.data_as<int32_t>();
      p.out = out.data_as<float>();
      p.num_seqs = seqs;
      p.num_q_heads = d.heads;
      p.num_kv_heads = d.kv_heads;
      p.head_dim = d.head_dim;
      p.block_size = block;
      p.max_context_len = context;
      p.scale = 1.f / std::sqrt(float(d.head_dim));
      const kernels::DecodeKernel picked = kernels::DecodeKernelFor(p);
      const double bytes = KvBytes(d, b.KvDType(), seqs, context, 1);
      int sms = 0;
      Check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0), "sms");
      for (kernels::DecodeKernel kernel :
           {kernels::DecodeKernel::kOurs, kernels::DecodeKernel::kFlashInfer}) {
        p.kernel = kernel;
        p.num_sms = 0;
        if (kernel == kernels::DecodeKernel::kFlashInfer && !kernels::FlashInferDecodeServes(p)) {
          continue;  // not built in, or not an sm_90 GPU
        }
        // The kernels' split heuristics aim at filling num_sms multiprocessors; planning for half
        // and twice the real count (sm_fill 0.5, 2) shows whether their targets are right.
        for (double fill : {1.0, 0.5, 2.0}) {
          p.num_sms = static_cast<int>(sms * fill);
          p.scratch_bytes = kernels::DecodeAttentionScratchBytes(p);
          Tensor scratch = b.Allocate(DType::kI32, {static_cast<int64_t>(p.scratch_bytes / 4 + 1)});
          p.scratch = scratch.data();
          const double sec = DecodeAttentionSeconds(p, tables, stream);
          Emit(lines,
               "{\"name\": \"decode_attention\", \"kernel\": \"%s\", \"sm_fill\": %.1f, "
               "\"picked\": %s, \"batch\": %d, \"context\": %d, \"us\": %.1f, \"kv_GBps\": "
               "%.1f, \"vs_copy\": %.3f}",
               kernels::ToString(kernel), fill, kernel == picked && fill == 1.0 ? "true" : "false",
               seqs, context, sec * 1e6, bytes / sec / 1e9, bytes / sec / copy_bw);
        }
      }
    }
  }
  b.Synchronize();
}

}  // namespace

std::unique_ptr<bench::BenchModel> MakeDecodeBenchModel(Backend& backend, int layers, int vocab,
                                                        int seqs, int prompt) {
  auto model = std::make_unique<bench::BenchModel>(
      backend, bench::Llama3_8BConfig(layers, vocab), DType::kBF16,
      bench::BenchLayout{.seqs = seqs, .context = kGraphContext, .prompt = prompt});
  std::fprintf(stderr, "model: %d layers, vocab %d, loaded in %.1f s\n", layers, vocab,
               model->load_seconds());
  model->FillContexts(seqs, kDecodeContext - 1);
  return model;
}

double DecodeGraphStepMs(bench::BenchModel& model, int seqs, int steps) {
  return GraphStepMs(model, seqs, kDecodeContext, steps);
}

void ProfileDecodeStep(int seqs, int layers) {
  auto backend = MakeCudaBackend({.device = DeviceKind::kCuda, .cuda_graph_batch_sizes = {seqs}});
  Backend& b = *backend;
  auto m = MakeDecodeBenchModel(b, layers, bench::kLlama3Vocab, seqs, 0);
  std::vector<SampleRequest> requests(seqs);
  for (int i = 0; i < 3; ++i)
    b.Sample(m->model().Forward(m->Decode(seqs, kDecodeContext)), requests);
  b.Synchronize();
  Check(cudaProfilerStart(), "cudaProfilerStart");
  b.Sample(m->model().Forward(m->Decode(seqs, kDecodeContext)), requests);
  b.Synchronize();
  Check(cudaProfilerStop(), "cudaProfilerStop");
  m->CaptureGraphs(seqs);
  std::printf("{\"name\": \"profiled_decode_step\", \"batch\": %d, \"graph_step_ms\": %.3f}\n",
              seqs, DecodeGraphStepMs(*m, seqs, 20));
}

std::vector<double> DecodeStepMs(int layers, int seqs, int vocab,
                                 const std::vector<BeforeSample>& variants) {
  auto backend = MakeCudaBackend({.device = DeviceKind::kCuda, .cuda_graph_batch_sizes = {seqs}});
  auto m = MakeDecodeBenchModel(*backend, layers, vocab, seqs, 0);
  m->CaptureGraphs(seqs);
  return GraphStepsMs(*m, seqs, kDecodeContext, 20, variants);
}

std::vector<std::string> RunDecodeBench(double copy_bandwidth, bench::BenchModel& model) {
  std::vector<std::string> lines;
  StepSweep(model, copy_bandwidth, &lines);
  LinearSweep(copy_bandwidth, &lines);
  AttentionSweep(model.backend(), copy_bandwidth, &lines);
  return lines;
}

}  // namespace tg::backend
