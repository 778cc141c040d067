// Converts CUDA runtime and kernel statuses into tg::Error at the backend boundary (STYLE.md:
// kernels return a status, everything above throws). Each error names the device the failed call
// ran on and, through std::source_location, the file and line of the call (not of this header).
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

// "cuda:N" for the device current on this thread, where the failed call ran: with several GPUs
// per host (one shard each) the log line must say which one failed.
inline std::string CurrentDeviceName() {
  int device = -1;
  // It reads the thread's runtime state; a poisoned context may make it fail too.
  if (cudaGetDevice(&device) != cudaSuccess) return "cuda:?";
  return "cuda:" + std::to_string(device);
}

inline void CheckCuda(cudaError_t status, const char* what,
                      std::source_location where = std::source_location::current()) {
  if (status != cudaSuccess) [[unlikely]] {
    throw Error(
        CudaErrorKind(status),
        std::string(what) + " on " + CurrentDeviceName() + ": " + cudaGetErrorString(status),
        where);
  }
}

inline void CheckKernel(kernels::Status status, const char* op,
                        std::source_location where = std::source_location::current()) {
  if (status == kernels::Status::kOk) return;
  ErrorKind kind = status == kernels::Status::kUnsupported       ? ErrorKind::kUnsupported
                   : status == kernels::Status::kInvalidArgument ? ErrorKind::kInvalidArgument
                                                                 : ErrorKind::kInternal;
  std::string detail;
  if (status == kernels::Status::kLaunchFailed) {
    const cudaError_t launch = cudaGetLastError();
    if (IsStickyCudaError(launch)) kind = ErrorKind::kDeviceLost;
    detail = std::string(" (") + cudaGetErrorString(launch) + ")";
  }
  throw Error(
      kind,
      std::string(op) + " on " + CurrentDeviceName() + ": " + kernels::ToString(status) + detail,
      where);
}

}  // namespace tg::backend::cuda
