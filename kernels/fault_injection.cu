// A kernel that faults on purpose: the GPU half of the shard's device-lost tests.
#include "kernels/fault_injection.h"

#include <cstdint>

#include "kernels/device_utils.cuh"

namespace tg::kernels {
namespace {

// The address is computed from a kernel argument so the compiler cannot prove or drop the store.
__global__ void WriteToUnmappedAddress(uintptr_t address) {
  *reinterpret_cast<volatile int*>(address) = 1;
}

}  // namespace

Status LaunchIllegalAddressFault(Stream stream) {
  // The lowest page is never mapped in a CUDA context's address space.
  WriteToUnmappedAddress<<<1, 1, 0, stream>>>(uintptr_t{16});
  return detail::LaunchStatus();
}

}  // namespace tg::kernels
