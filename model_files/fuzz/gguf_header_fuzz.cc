// libFuzzer target: any bytes given to the GGUF parser must either parse or throw tg::Error.
// After a successful parse, the metadata getters and the model config are exercised too, and
// the bytes of every tensor are read, so bad offsets show up under ASan.
#include <cstddef>
#include <cstdint>

#include "common/error.h"
#include "model_files/gguf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto file = tg::model::GgufFile::Parse({data, size}, "fuzz.gguf");
    for (const auto& key : file.Keys()) {
      try {
        switch (*file.KeyType(key)) {
          case tg::model::GgufType::kString:
            (void)file.GetString(key);
            break;
          case tg::model::GgufType::kArray:
            if (file.ArrayElementType(key) == tg::model::GgufType::kString) {
              (void)file.GetStringArray(key);
            } else {
              (void)file.GetI32Array(key);
            }
            break;
          default:
            (void)file.GetU32(key);
            break;
        }
      } catch (const tg::Error&) {
      }
    }
    volatile uint8_t sink = 0;
    for (const auto& t : file.tensors()) {
      const uint8_t* p = file.TensorData(t);
      if (t.nbytes > 0) sink = sink ^ p[0] ^ p[t.nbytes - 1];
    }
    (void)tg::model::ModelConfigFromGguf(file);
  } catch (const tg::Error&) {
  }
  return 0;
}
