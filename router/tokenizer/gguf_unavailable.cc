// Built instead of gguf_tokenizer.cc while tg_model_files has no GGUF reader.
#include "common/error.h"
#include "router/tokenizer/loaders.h"

namespace tg::tokenizer {

std::unique_ptr<Pipeline> LoadGgufTokenizer(const std::filesystem::path& gguf) {
  throw Error(ErrorKind::kUnsupported,
              "GGUF tokenizers need tg_model_files with GGUF support: " + gguf.string());
}

}  // namespace tg::tokenizer
