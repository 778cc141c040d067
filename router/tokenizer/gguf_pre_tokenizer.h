// The pre-tokenizer of a GGUF `gpt2` (byte-level BPE) vocabulary, chosen by tokenizer.ggml.pre:
// the regexes llama.cpp applies (llama-vocab.cpp's LLAMA_VOCAB_PRE_TYPE_* table), each one
// isolating its matches in turn, as in the HF tokenizers those files were converted from.
#pragma once

#include <string>
#include <vector>

namespace tg::tokenizer {

// Throws tg::Error(kUnsupported) naming a tokenizer.ggml.pre value we do not know.
std::vector<std::string> GgufPreTokenizerRegexes(const std::string& pre);

}  // namespace tg::tokenizer
