// The CUDA backend: every Backend op (shard/backend/backend.h) on one GPU, through the kernels of
// kernels/ and cuBLASLt. No CUDA header here, so the shard can include it anywhere.
//
// Activations are float32 as the interface requires; weights stay in their dtype (bf16/f16/f32)
// and GEMM inputs are converted to the weight dtype on the fly, accumulating in float32. The KV
// cache is bfloat16 (KvDType), or float32 when BackendOptions::kv_cache_dtype (--kv-cache-dtype)
// asks for it.
// Device memory comes from CUDA's stream-ordered pool (cudaMallocAsync), so the per-forward
// activation allocations of the model code cost no cudaMalloc after the first step.
//
// Decode graphs (Backend::BeginGraph/EndGraph, decode_graphs.h): for each batch size of
// BackendOptions::cuda_graph_batch_sizes one forward can be captured and then replayed with new
// host inputs in one cudaGraphLaunch. Memory planning (ResetPeakMemory/PlanKvBlocks): the peak
// in use is the pool's high-water mark plus what lies outside the pool; KV gets
// total * memory_utilization minus that (memory_plan.h). Graph memory (about one activation
// set per captured size) is allocated after the plan, out of the (1 - utilization) headroom.
#pragma once

#include <memory>

#include "shard/backend/backend.h"

namespace tg::backend {

// Throws tg::Error(kUnavailable) if there is no usable CUDA device `options.device_id`.
std::unique_ptr<Backend> MakeCudaBackend(const BackendOptions& options);

// Number of CUDA devices visible (0 when there is no driver or GPU); never throws.
int CudaDeviceCount();

}  // namespace tg::backend
