// Test-only: puts the CUDA context into a sticky error (an illegal address), so tests can check
// that a poisoned device makes the shard exit instead of failing every request.
#pragma once

#include "kernels/common.h"

namespace tg::kernels {

// Launches one thread that writes to an unmapped address. The launch itself succeeds; the next
// synchronisation reports cudaErrorIllegalAddress, and every CUDA call after it fails too.
Status LaunchIllegalAddressFault(Stream stream);

}  // namespace tg::kernels
