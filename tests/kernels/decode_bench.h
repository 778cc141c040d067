// The decode figures of cuda_bench (issue 17), each against the copy bandwidth measured in the
// same run: decode step time per batch size in CUDA graphs against the weights + KV roofline,
// Linear at decode row counts (our skinny kernel and cuBLASLt, per shape), and decode attention
// bandwidth from 1k to 32k context (our kernel and FlashInfer's, per shape, and which one
// DecodeAttention picks).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "shard/backend/sampling.h"

namespace tg::backend {

// Runs on the host between a decode step's enqueue and its Sample (where the engine fills the
// grammar masks of constrained requests); may set each request's `allowed`.
using BeforeSample = std::function<void(std::vector<SampleRequest>&)>;

// Milliseconds per decode step of the Llama-3-8B shape with `layers` layers and a `vocab`-wide
// lm_head, at batch `seqs` and a 512-token context, replayed from a CUDA graph, greedy sampling
// included: one figure per variant (a null one samples without masks), on the same model.
std::vector<double> DecodeStepMs(int layers, int seqs, int vocab,
                                 const std::vector<BeforeSample>& variants);

// Runs the sweeps and returns one JSON object per figure (also printed to stdout, one a line).
// `copy_bandwidth` in bytes/s; `layers` of the Llama-3-8B shape.
std::vector<std::string> RunDecodeBench(double copy_bandwidth, int layers);

// One eager decode step of `seqs` sequences at 512 context between cudaProfilerStart/Stop, after
// warm-up, for `ncu --profile-from-start off` (per-kernel times of the step); also prints the
// step's time replayed from a CUDA graph, to set the kernels' sum against.
void ProfileDecodeStep(int seqs, int layers);

}  // namespace tg::backend
