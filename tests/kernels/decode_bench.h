// The decode figures of cuda_bench (issue 17), each against the copy bandwidth measured in the
// same run: decode step time per batch size in CUDA graphs against the weights + KV roofline,
// Linear at decode row counts (our skinny kernel and cuBLASLt, per shape), and decode attention
// bandwidth from 1k to 32k context (our kernel and FlashInfer's, per shape, and which one
// DecodeAttention picks). The steps are the real model's (bench_model.h), replayed from the
// graphs the engine's DecodeGraphRunner captures.
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "shard/backend/backend.h"
#include "shard/backend/sampling.h"
#include "tests/kernels/bench_model.h"

namespace tg::backend {

// Decode steps run at this context (the steps of one figure advance it by one each).
inline constexpr int kDecodeContext = 512;
// The longest context the decode graphs serve.
inline constexpr int kGraphContext = kDecodeContext + 64;
// The batch sizes of the step sweep, each replayed from its own graph.
inline constexpr std::array<int, 7> kDecodeBatches = {1, 2, 4, 8, 16, 32, 64};

// Runs on the host between a decode step's enqueue and its Sample (where the engine fills the
// grammar masks of constrained requests); may set each request's `allowed`.
using BeforeSample = std::function<void(std::vector<SampleRequest>&)>;

// The real model in the Llama-3-8B shape with `layers` layers and a `vocab`-wide vocabulary on
// `backend` (bf16 weights), with room for `seqs` decode sequences of up to kGraphContext tokens,
// whose first kDecodeContext - 1 positions it prefills, and for one prompt of `prompt` tokens.
// Prints its load time to stderr.
std::unique_ptr<bench::BenchModel> MakeDecodeBenchModel(Backend& backend, int layers, int vocab,
                                                        int seqs, int prompt);

// Milliseconds per decode step of `seqs` sequences at kDecodeContext, replayed from the graph
// `model` captured (BenchModel::CaptureGraphs), greedy sampling included.
double DecodeGraphStepMs(bench::BenchModel& model, int seqs, int steps);

// Milliseconds per decode step of the Llama-3-8B shape with `layers` layers and a `vocab`-wide
// lm_head, at batch `seqs` and a 512-token context, replayed from a CUDA graph, greedy sampling
// included: one figure per variant (a null one samples without masks), on the same model.
std::vector<double> DecodeStepMs(int layers, int seqs, int vocab,
                                 const std::vector<BeforeSample>& variants);

// Runs the sweeps and returns one JSON object per figure (also printed to stdout, one a line).
// `copy_bandwidth` in bytes/s; `model` from MakeDecodeBenchModel with kDecodeBatches.back()
// sequences, its graphs captured for kDecodeBatches (BenchModel::CaptureGraphs).
std::vector<std::string> RunDecodeBench(double copy_bandwidth, bench::BenchModel& model);

// One eager decode step of `seqs` sequences at 512 context between cudaProfilerStart/Stop, after
// warm-up, for `ncu --profile-from-start off` (per-kernel times of the step); also prints the
// step's time replayed from a CUDA graph, to set the kernels' sum against.
void ProfileDecodeStep(int seqs, int layers);

}  // namespace tg::backend
