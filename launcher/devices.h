// Counting the GPUs this process may use, without linking CUDA.
//
// The launcher must start in milliseconds and run on machines without the CUDA toolkit, so it
// never includes a CUDA header: it asks the driver through dlopen("libcuda.so.1") when the driver
// library is there (exact: it applies CUDA_VISIBLE_DEVICES and MIG itself), and otherwise counts
// /proc/driver/nvidia/gpus/* and applies CUDA_VISIBLE_DEVICES the way the CUDA runtime does.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace tg::launcher {

// How many of `physical_gpus` a process sees under CUDA_VISIBLE_DEVICES (nullopt: unset).
// Like CUDA: an empty list hides every GPU, and the list ends at the first entry that is not a
// valid index (out of range, negative, garbage) or a GPU-/MIG- UUID; duplicates end it too.
uint32_t CountVisibleGpus(uint32_t physical_gpus, const std::optional<std::string>& visible);

struct GpuDiscovery {
  uint32_t count = 0;
  std::string method;  // "libcuda", "procfs" or "none", for the start-up log
};

// Discovers the GPUs visible to this process (and so to the shards it spawns).
GpuDiscovery DiscoverGpus();

// The CPU cores this process may run on (its affinity mask, as taskset/cgroups set it), at
// least 1; the shards it spawns inherit the same mask.
uint32_t UsableCpuCores();

}  // namespace tg::launcher
