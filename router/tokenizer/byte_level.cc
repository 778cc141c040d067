#include "router/tokenizer/byte_level.h"

#include "router/tokenizer/utf8.h"

namespace tg::tokenizer {
namespace {

struct Tables {
  std::array<std::string, 256> to_unicode;
  std::array<int16_t, 512> to_byte;  // every mapped code point is below 0x144
};

Tables BuildTables() {
  Tables t;
  t.to_byte.fill(-1);
  uint32_t next = 256;
  for (uint32_t b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    const uint32_t cp = printable ? b : next++;
    AppendUtf8(cp, t.to_unicode[b]);
    t.to_byte[cp] = static_cast<int16_t>(b);
  }
  return t;
}

const Tables& GetTables() {
  static const Tables tables = BuildTables();
  return tables;
}

}  // namespace

const std::array<std::string, 256>& ByteToUnicode() { return GetTables().to_unicode; }

void AppendByteLevel(std::string_view bytes, std::string& out) {
  const auto& table = GetTables().to_unicode;
  for (char c : bytes) out += table[static_cast<unsigned char>(c)];
}

std::optional<uint8_t> UnicodeToByte(uint32_t cp) {
  if (cp >= 512) return std::nullopt;
  const int16_t b = GetTables().to_byte[cp];
  if (b < 0) return std::nullopt;
  return static_cast<uint8_t>(b);
}

}  // namespace tg::tokenizer
