// Programmatic dependent launch (Hopper's PDL): a kernel launched with LaunchDependent may be
// scheduled while the kernel before it in the stream is still running, so the launch latency
// and the grid's ramp-up overlap the previous kernel's tail instead of following it. A decode
// step is a chain of ~10 small kernels a layer, and those gaps are a large part of its time.
//
// The contract every kernel launched this way keeps: it calls WaitForPriorKernels() before it
// reads anything an earlier kernel of the step wrote and before it writes anything at all. Only
// loads of data no kernel writes during the step (weights) may come first. The wait returns once
// the previous grid has completed and its writes are visible, so the chain stays ordered
// transitively. A kernel launched the ordinary way sees no dependency and the wait returns at
// once, so the same kernel serves both launches. Internal to kernels/.
#pragma once

#include <cuda_runtime.h>

#include <utility>

#include "kernels/common.h"

namespace tg::kernels::detail {

__device__ __forceinline__ void WaitForPriorKernels() {
  asm volatile("griddepcontrol.wait;" ::: "memory");
}

// Lets the next kernel of the stream (when launched with LaunchDependent) start being scheduled.
__device__ __forceinline__ void AllowDependentLaunch() {
  asm volatile("griddepcontrol.launch_dependents;" :::);
}

// Grids up to this many blocks are launched as dependents: decode-step sizes (batch 64: at most
// ~900 blocks), whose kernels last a few microseconds, so the launch gap is a real share of
// them. Prefill-size grids run for hundreds of microseconds; on the H200 the 4096-token prefill
// measured 2% slower with every kernel a dependent (105.3 against 103.3 ms), so they launch the
// ordinary way.
constexpr unsigned long long kMaxDependentGridBlocks = 1024;

// kernel<<<grid, block, smem, stream>>>(args...) with programmatic stream serialization allowed
// for decode-size grids (an ordinary launch otherwise, or when DependentLaunchEnabled() is
// false).
template <typename... Params, typename... Args>
Status LaunchDependent(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, Stream stream,
                       Args&&... args) {
  const unsigned long long blocks = static_cast<unsigned long long>(grid.x) * grid.y * grid.z;
  const bool dependent = DependentLaunchEnabled() && blocks <= kMaxDependentGridBlocks;
  cudaLaunchAttribute attribute[1];
  attribute[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute[0].val.programmaticStreamSerializationAllowed = dependent ? 1 : 0;
  cudaLaunchConfig_t config = {};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = smem;
  config.stream = stream;
  config.attrs = attribute;
  config.numAttrs = 1;
  return cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...) == cudaSuccess
             ? Status::kOk
             : Status::kLaunchFailed;
}

}  // namespace tg::kernels::detail
