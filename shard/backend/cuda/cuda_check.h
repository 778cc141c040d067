// Converts CUDA runtime and kernel statuses into tg::Error at the backend boundary (STYLE.md:
// kernels return a status, everything above throws).
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "common/error.h"
#include "kernels/common.h"

namespace tg::backend::cuda {

inline void CheckCuda(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    throw Error(ErrorKind::kInternal, std::string(what) + ": " + cudaGetErrorString(status));
  }
}

inline void CheckKernel(kernels::Status status, const char* op) {
  if (status == kernels::Status::kOk) return;
  const ErrorKind kind = status == kernels::Status::kUnsupported       ? ErrorKind::kUnsupported
                         : status == kernels::Status::kInvalidArgument ? ErrorKind::kInvalidArgument
                                                                       : ErrorKind::kInternal;
  std::string message = std::string(op) + ": " + kernels::ToString(status);
  if (status == kernels::Status::kLaunchFailed) {
    message += std::string(" (") + cudaGetErrorString(cudaGetLastError()) + ")";
  }
  throw Error(kind, message);
}

}  // namespace tg::backend::cuda
