// Device memory for the CUDA backend: a stream and CUDA's stream-ordered pool behind it.
//
// Allocations are freed in stream order (cudaFreeAsync), so a tensor dropped by the host while
// kernels still read it stays valid for them, and the pool keeps freed memory for reuse (its
// release threshold is raised to "never"), which makes per-step activation tensors cheap.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <memory>

#include "shard/backend/cuda/cuda_check.h"

namespace tg::backend::cuda {

class StreamPool : public std::enable_shared_from_this<StreamPool> {
 public:
  StreamPool(int device, cudaStream_t stream) : device_(device), stream_(stream) {
    cudaMemPool_t pool = nullptr;
    CheckCuda(cudaDeviceGetDefaultMemPool(&pool, device_), "cudaDeviceGetDefaultMemPool");
    uint64_t keep = UINT64_MAX;
    CheckCuda(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep),
              "cudaMemPoolSetAttribute");
  }
  ~StreamPool() {
    cudaStreamSynchronize(stream_);
    cudaStreamDestroy(stream_);
    // The device's default pool outlives this backend: give back what it kept for reuse.
    cudaMemPool_t pool = nullptr;
    if (cudaDeviceGetDefaultMemPool(&pool, device_) == cudaSuccess) cudaMemPoolTrimTo(pool, 0);
  }
  StreamPool(const StreamPool&) = delete;
  StreamPool& operator=(const StreamPool&) = delete;

  cudaStream_t stream() const { return stream_; }

  std::shared_ptr<void> Allocate(size_t bytes) {
    if (bytes == 0) return nullptr;
    void* ptr = nullptr;
    const cudaError_t status = cudaMallocAsync(&ptr, bytes, stream_);
    if (status != cudaSuccess) {
      cudaGetLastError();
      // Out of memory fails this allocation only; a poisoned context is kDeviceLost.
      throw Error(CudaErrorKind(status), "device allocation of " + std::to_string(bytes) +
                                             " bytes failed: " + cudaGetErrorString(status));
    }
    std::shared_ptr<StreamPool> self = shared_from_this();
    return std::shared_ptr<void>(ptr, [self](void* p) { cudaFreeAsync(p, self->stream_); });
  }

 private:
  int device_;
  cudaStream_t stream_;
};

// A reusable device buffer that only grows (by doubling), optionally zero-filled when it does.
class ScratchBuffer {
 public:
  void* Get(StreamPool& pool, size_t bytes, bool zero) {
    if (bytes > size_) {
      const size_t size = std::max(bytes, size_ * 2);
      memory_ = pool.Allocate(size);
      size_ = size;
      if (zero)
        CheckCuda(cudaMemsetAsync(memory_.get(), 0, size, pool.stream()), "cudaMemsetAsync");
    }
    return memory_.get();
  }

 private:
  std::shared_ptr<void> memory_;
  size_t size_ = 0;
};

}  // namespace tg::backend::cuda
