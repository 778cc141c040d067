// libFuzzer target: any bytes given to the safetensors header parser must either parse or throw
// tg::Error, never crash, hang or read out of bounds (run under ASan/UBSan).
#include <cstddef>
#include <cstdint>

#include "common/error.h"
#include "model_files/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto header = tg::model::ParseSafetensorsHeader({data, size}, "fuzz.safetensors");
    // Touch every tensor's bytes the parser vouched for.
    volatile uint8_t sink = 0;
    for (const auto& [name, t] : header.tensors) {
      if (t.end > t.begin) sink = sink ^ data[t.begin] ^ data[t.end - 1];
    }
  } catch (const tg::Error&) {
  }
  return 0;
}
