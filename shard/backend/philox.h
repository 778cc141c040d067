// The counter-based random numbers behind seeded sampling, shared bit for bit by every backend.
//
// A request's draw at generation step `step` depends only on (seed, step): Philox4x32-10
// (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11) with
//   key     = {seed & 0xffffffff, seed >> 32}
//   counter = {step & 0xffffffff, step >> 32, 0, 0}
// and the uniform u in [0, 1) is the first output word's top 24 bits times 2^-24 (exact in
// float32). So a seeded request draws the same numbers whatever else is in its batch, on the CPU
// and on the GPU (the CUDA backend runs this same function on the device: it is constexpr and
// header-only for that reason; mark it __host__ __device__ via TG_PHILOX_HD there).
#pragma once

#include <array>
#include <cstdint>

#ifndef TG_PHILOX_HD
#define TG_PHILOX_HD
#endif

namespace tg::backend {

TG_PHILOX_HD constexpr std::array<uint32_t, 4> Philox4x32(std::array<uint32_t, 4> counter,
                                                          std::array<uint32_t, 2> key) {
  constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = static_cast<uint64_t>(kMul0) * counter[0];
    const uint64_t p1 = static_cast<uint64_t>(kMul1) * counter[2];
    const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    counter = {hi1 ^ counter[1] ^ key[0], lo1, hi0 ^ counter[3] ^ key[1], lo0};
    key = {key[0] + kWeyl0, key[1] + kWeyl1};
  }
  return counter;
}

// The uniform draw in [0, 1) of request seed `seed` at generation step `step`.
TG_PHILOX_HD constexpr float PhiloxUniform(uint64_t seed, uint64_t step) {
  const std::array<uint32_t, 4> out =
      Philox4x32({static_cast<uint32_t>(step), static_cast<uint32_t>(step >> 32), 0u, 0u},
                 {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)});
  return static_cast<float>(out[0] >> 8) * (1.0f / 16777216.0f);
}

}  // namespace tg::backend
