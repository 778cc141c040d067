// Reasoning split from content: Qwen3-style answers that open <think> themselves, DeepSeek-R1
// style ones whose prompt opened it, answers without thinking, and every split of a stream into
// two pieces giving what the whole answer gives.
#include "router/reasoning/reasoning_parser.h"

#include <gtest/gtest.h>

#include <string>

namespace tg::reasoning {
namespace {

void ExpectSplit(bool starts_inside, const std::string& text, const std::string& reasoning,
                 const std::string& content) {
  const ReasoningPiece whole = SplitReasoning(starts_inside, text);
  EXPECT_EQ(whole.reasoning, reasoning) << text;
  EXPECT_EQ(whole.content, content) << text;
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    ReasoningParser parser(starts_inside);
    ReasoningPiece got = parser.Feed(std::string_view(text).substr(0, cut));
    for (const ReasoningPiece& piece :
         {parser.Feed(std::string_view(text).substr(cut)), parser.Finish()}) {
      got.reasoning += piece.reasoning;
      got.content += piece.content;
    }
    EXPECT_EQ(got.reasoning, reasoning) << "split at " << cut;
    EXPECT_EQ(got.content, content) << "split at " << cut;
  }
}

TEST(ReasoningParserTest, ThinkBlockThenAnswer) {
  ExpectSplit(false, "<think>\nThe user greets me.\n</think>\n\nHello!", "The user greets me.\n",
              "Hello!");
}

TEST(ReasoningParserTest, PromptOpenedTheBlock) {
  ExpectSplit(true, "Paris is in France.</think>\n\nParis.", "Paris is in France.", "Paris.");
}

TEST(ReasoningParserTest, NoThinkingIsAllContent) {
  ExpectSplit(false, "Hello <think> is just text", "", "Hello <think> is just text");
  ExpectSplit(false, "<thin", "", "<thin");
}

TEST(ReasoningParserTest, AnswerEndingWhileThinkingIsAllReasoning) {
  ExpectSplit(false, "<think>still thinking </thi", "still thinking </thi", "");
  ExpectSplit(true, "step one, step two", "step one, step two", "");
}

TEST(ReasoningParserTest, EmptyThinkBlock) {
  ExpectSplit(false, "<think>\n\n</think>\n\n{\"a\": 1}", "", "{\"a\": 1}");
}

TEST(ReasoningParserTest, TemplatesAndPrompts) {
  EXPECT_TRUE(TemplateHasReasoning("{{- '<think>\\n\\n</think>\\n\\n' }}"));
  EXPECT_FALSE(TemplateHasReasoning("{{ '<|im_start|>assistant\\n' }}"));
  EXPECT_TRUE(PromptOpensReasoning("<|Assistant|><think>\n"));
  EXPECT_FALSE(PromptOpensReasoning("<|im_start|>assistant\n<think>\n\n</think>\n\n"));
  EXPECT_FALSE(PromptOpensReasoning("<|im_start|>assistant\n"));
}

}  // namespace
}  // namespace tg::reasoning
