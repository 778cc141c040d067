// Builders of a Pipeline from the files a model ships with.
#pragma once

#include <filesystem>
#include <memory>

#include "router/tokenizer/pipeline.h"

namespace tg::tokenizer {

// tokenizer.json, plus tokenizer_config.json / chat_template.jinja next to it when present.
std::unique_ptr<Pipeline> LoadTokenizerJson(const std::filesystem::path& tokenizer_json);

// The tokenizer in a GGUF file's metadata (tokenizer.ggml.*). Throws tg::Error(kUnsupported)
// when GGUF support was not built in.
std::unique_ptr<Pipeline> LoadGgufTokenizer(const std::filesystem::path& gguf);

}  // namespace tg::tokenizer
