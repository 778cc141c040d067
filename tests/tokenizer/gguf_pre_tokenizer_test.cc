// GGUF pre-tokenizer splits on hand-checked strings. There are no published llama.cpp vectors for
// `qwen35` in the assets, so the pieces below were worked out by hand from the pattern
// (llama-vocab.cpp, LLAMA_VOCAB_PRE_TYPE_QWEN35); `qwen2` is split alongside to show that the
// strings exercise exactly the difference between them: combining marks (\p{M}).
#include "router/tokenizer/gguf_pre_tokenizer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/error.h"
#include "router/tokenizer/regex.h"

namespace tg::tokenizer {
namespace {

using Pieces = std::vector<std::string>;

// The pieces of one regex's "Isolated" split: matches and the gaps between them, in order.
Pieces Split(const std::string& pre, const std::string& text) {
  const std::vector<std::string> regexes = GgufPreTokenizerRegexes(pre);
  EXPECT_EQ(regexes.size(), 1u) << pre;
  const Regex regex(regexes.front());
  Pieces pieces;
  size_t at = 0;
  for (const auto& [begin, end] : regex.FindAll(text)) {
    if (begin > at) pieces.push_back(text.substr(at, begin - at));
    pieces.push_back(text.substr(begin, end - begin));
    at = end;
  }
  if (at < text.size()) pieces.push_back(text.substr(at));
  return pieces;
}

// U+0301 COMBINING ACUTE ACCENT, U+094D DEVANAGARI SIGN VIRAMA, U+0947 DEVANAGARI VOWEL SIGN E:
// all \p{M}.
const std::string kAcute = "\xCC\x81";

TEST(GgufPreTokenizerTest, Qwen35KeepsACombiningMarkWithItsLetters) {
  const std::string decomposed = "e" + kAcute + "t\xC3\xA9";  // "e" U+0301 "t" U+00E9
  EXPECT_EQ(Split("qwen35", decomposed), Pieces{decomposed});
  // Qwen2: the mark is no letter, so it starts a new word as its optional prefix.
  EXPECT_EQ(Split("qwen2", decomposed), (Pieces{"e", kAcute + "t\xC3\xA9"}));
}

TEST(GgufPreTokenizerTest, Qwen35KeepsADevanagariWordWhole) {
  // नमस्ते: NA MA SA VIRAMA TA (sign E); the virama and the vowel sign are marks.
  const std::string namaste =
      "\xE0\xA4\xA8\xE0\xA4\xAE\xE0\xA4\xB8\xE0\xA5\x8D\xE0\xA4\xA4\xE0\xA5\x87";
  EXPECT_EQ(Split("qwen35", " " + namaste + "!"), (Pieces{" " + namaste, "!"}));
  EXPECT_EQ(Split("qwen2", " " + namaste + "!"),
            (Pieces{" \xE0\xA4\xA8\xE0\xA4\xAE\xE0\xA4\xB8", "\xE0\xA5\x8D\xE0\xA4\xA4",
                    "\xE0\xA5\x87!"}));
}

TEST(GgufPreTokenizerTest, Qwen35LeavesMarksOutOfPunctuationRuns) {
  EXPECT_EQ(Split("qwen35", "Hi!!" + kAcute), (Pieces{"Hi", "!!", kAcute}));
  EXPECT_EQ(Split("qwen2", "Hi!!" + kAcute), (Pieces{"Hi", "!!" + kAcute}));
}

TEST(GgufPreTokenizerTest, Qwen35AgreesWithQwen2WithoutMarks) {
  for (const std::string& text :
       {std::string("Hello world, it's 2026!\n\n  x = f(123);"), std::string("I'LL  go\r\nnow"),
        std::string("\xE4\xBD\xA0\xE5\xA5\xBD\xEF\xBC\x8C\xE4\xB8\x96\xE7\x95\x8C 42")}) {
    EXPECT_EQ(Split("qwen35", text), Split("qwen2", text)) << text;
  }
  EXPECT_EQ(Split("qwen35", "x 123"), (Pieces{"x", " ", "1", "2", "3"}));
}

TEST(GgufPreTokenizerTest, AnUnknownNameIsRefusedByName) {
  try {
    GgufPreTokenizerRegexes("qwen99");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    EXPECT_NE(e.message().find("qwen99"), std::string::npos);
  }
}

}  // namespace
}  // namespace tg::tokenizer
