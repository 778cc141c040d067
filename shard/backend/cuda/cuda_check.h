// Converts CUDA runtime and kernel statuses into tg::Error at the backend boundary (STYLE.md:
// kernels return a status, everything above throws).
#pragma once

#include <cuda_runtime.h>

#include <source_location>
#include <string>

#include "common/error.h"
#include "kernels/common.h"

namespace tg::backend::cuda {

// Errors after which the CUDA context is unusable for the life of the process: every later call
// fails too, so the shard must exit rather than fail each request (ErrorKind::kDeviceLost).
inline bool IsStickyCudaError(cudaError_t status) {
  switch (status) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorLaunchTimeout:
    case cudaErrorECCUncorrectable:
    case cudaErrorHardwareStackError:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorAssert:
    case cudaErrorUnknown:
    case cudaErrorContextIsDestroyed:
    case cudaErrorDevicesUnavailable:
    case cudaErrorNvlinkUncorrectable:
    case cudaErrorCudartUnloading:
      return true;
    default:
      return false;
  }
}

inline ErrorKind CudaErrorKind(cudaError_t status) {
  if (IsStickyCudaError(status)) return ErrorKind::kDeviceLost;
  return status == cudaErrorMemoryAllocation ? ErrorKind::kResourceExhausted : ErrorKind::kInternal;
}

inline void CheckCuda(cudaError_t status, const char* what,
                      std::source_location where = std::source_location::current()) {
  if (status != cudaSuccess) [[unlikely]] {
    throw Error(CudaErrorKind(status), std::string(what) + ": " + cudaGetErrorString(status),
                where);
  }
}

inline void CheckKernel(kernels::Status status, const char* op,
                        std::source_location where = std::source_location::current()) {
  if (status == kernels::Status::kOk) return;
  ErrorKind kind = status == kernels::Status::kUnsupported       ? ErrorKind::kUnsupported
                   : status == kernels::Status::kInvalidArgument ? ErrorKind::kInvalidArgument
                                                                 : ErrorKind::kInternal;
  std::string message = std::string(op) + ": " + kernels::ToString(status);
  if (status == kernels::Status::kLaunchFailed) {
    const cudaError_t launch = cudaGetLastError();
    if (IsStickyCudaError(launch)) kind = ErrorKind::kDeviceLost;
    message += std::string(" (") + cudaGetErrorString(launch) + ")";
  }
  throw Error(kind, message, where);
}

}  // namespace tg::backend::cuda
