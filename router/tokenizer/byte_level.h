// GPT-2's reversible byte <-> printable code point table, used by the ByteLevel pre-tokenizer
// and decoder: bytes that are printable Latin-1 map to themselves, the others to U+0100 upwards.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tg::tokenizer {

// The UTF-8 text of the code point standing for each byte.
const std::array<std::string, 256>& ByteToUnicode();

// Maps every byte of `bytes` to its code point and appends the UTF-8 result to out.
void AppendByteLevel(std::string_view bytes, std::string& out);

// The byte a code point stands for, if it is one of the 256.
std::optional<uint8_t> UnicodeToByte(uint32_t code_point);

}  // namespace tg::tokenizer
