#include "launcher/devices.h"

#include <dlfcn.h>
#include <sched.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <sstream>
#include <system_error>
#include <thread>
#include <vector>

namespace tg::launcher {
namespace {

// The two driver API entry points we need, declared by hand: CUresult is an int-sized enum whose
// success value is 0, CUdevice counts are plain ints.
using CuInitFn = int (*)(unsigned int);
using CuDeviceGetCountFn = int (*)(int*);

std::optional<uint32_t> CountWithLibcuda() {
  void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) return std::nullopt;
  auto init = reinterpret_cast<CuInitFn>(dlsym(lib, "cuInit"));
  auto count_fn = reinterpret_cast<CuDeviceGetCountFn>(dlsym(lib, "cuDeviceGetCount"));
  std::optional<uint32_t> result;
  int count = 0;
  // cuInit fails with "no device" when CUDA_VISIBLE_DEVICES hides everything: that is a count of 0.
  if (init != nullptr && count_fn != nullptr) {
    result = (init(0) == 0 && count_fn(&count) == 0) ? uint32_t(count) : 0u;
  }
  // The handle stays open: unloading the driver after cuInit is not supported.
  return result;
}

uint32_t CountProcfsGpus() {
  std::error_code ec;
  std::filesystem::directory_iterator it("/proc/driver/nvidia/gpus", ec);
  if (ec) return 0;
  uint32_t count = 0;
  for (const auto& entry : it) {
    if (entry.is_directory(ec)) ++count;
  }
  return count;
}

}  // namespace

uint32_t CountVisibleGpus(uint32_t physical_gpus, const std::optional<std::string>& visible) {
  if (!visible) return physical_gpus;
  std::stringstream list(*visible);
  std::set<std::string> seen;
  uint32_t count = 0;
  for (std::string entry; std::getline(list, entry, ',');) {
    // Surrounding spaces are tolerated, as by the CUDA runtime.
    const size_t begin = entry.find_first_not_of(' ');
    if (begin == std::string::npos) break;
    entry = entry.substr(begin, entry.find_last_not_of(' ') - begin + 1);
    if (entry.starts_with("GPU-") || entry.starts_with("MIG-")) {
      if (!seen.insert(entry).second) break;
      ++count;
      continue;
    }
    unsigned index = 0;
    auto [ptr, ec] = std::from_chars(entry.data(), entry.data() + entry.size(), index);
    if (ec != std::errc() || ptr != entry.data() + entry.size() || index >= physical_gpus) break;
    if (!seen.insert(std::to_string(index)).second) break;
    ++count;
  }
  return std::min(count, physical_gpus);
}

GpuDiscovery DiscoverGpus() {
  if (std::optional<uint32_t> count = CountWithLibcuda()) return {*count, "libcuda"};
  const uint32_t physical = CountProcfsGpus();
  if (physical == 0) return {0, "none"};
  const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
  return {CountVisibleGpus(physical, visible ? std::optional<std::string>(visible) : std::nullopt),
          "procfs"};
}

uint32_t UsableCpuCores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    return std::max(1, CPU_COUNT(&set));
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace tg::launcher
