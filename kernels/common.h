// Shared vocabulary of the kernel host API (STYLE.md: "one shape for every kernel API").
//
// Every kernel entry point is a host function `Status Name(const NameParams&, Stream)`. It checks
// its parameters, launches, and returns; it never allocates, synchronises or throws. Scratch
// memory comes from the caller, sized by a `NameScratchBytes(...)` query. This header is free of
// CUDA headers so that host code (the backend's public headers, tests) can include it anywhere.
#pragma once

#include <cstddef>
#include <cstdint>

struct CUstream_st;

namespace tg::kernels {

// A CUDA stream (cudaStream_t is the same type).
using Stream = CUstream_st*;

enum class Status {
  kOk,
  kInvalidArgument,  // null pointer, negative size, inconsistent shapes
  kUnsupported,      // a dtype or head size the dispatch table does not list
  kLaunchFailed,     // the CUDA launch (or cuBLASLt call) reported an error
};

const char* ToString(Status status);

// Element types of activations, weights and the KV cache.
enum class DType { kFloat32, kFloat16, kBFloat16 };

const char* ToString(DType dtype);
size_t DTypeSize(DType dtype);

// Whether the decode-path kernels are launched as programmatic dependents of the kernel before
// them (kernels/dependent_launch.cuh): on unless the environment sets TG_PDL=0, which the
// benchmarks use to measure what it gains. Read once.
bool DependentLaunchEnabled();

}  // namespace tg::kernels
