// Built when the tokenizer library (router/tokenizer, target tg_tokenizer) is not part of the
// build: workloads that need exact token counts cannot be generated.
#include "bench/text_codec.h"
#include "common/error.h"

namespace tg::bench {

std::unique_ptr<TextCodec> LoadTextCodec(const std::string& path) {
  throw Error(ErrorKind::kUnsupported,
              "text-gen-bench was built without tg_tokenizer; cannot load " + path);
}

}  // namespace tg::bench
