// The thinking of reasoning models, split from their answer: templates with <think> blocks
// (Qwen3, DeepSeek-R1, SmolLM3) have the model write `<think>reasoning</think>answer`, or only
// `reasoning</think>answer` when the prompt already ends with the opening tag (DeepSeek-R1's).
// The reasoning goes to `reasoning_content`, the rest is the answer's content; whitespace right
// after either tag is dropped. An answer that starts with anything else is all content; one
// that ends while thinking is all reasoning.
//
// Incremental like the tool-call parsers, so a stream gives what the whole answer gives.
#pragma once

#include <string>
#include <string_view>

namespace tg::reasoning {

struct ReasoningPiece {
  std::string reasoning;
  std::string content;
};

class ReasoningParser {
 public:
  // `starts_inside`: the prompt ended with the opening tag.
  explicit ReasoningParser(bool starts_inside);
  ReasoningPiece Feed(std::string_view text);
  ReasoningPiece Finish();

 private:
  enum class State { kStart, kReasoning, kContent };
  State state_;
  bool skip_space_;  // drop whitespace at the start of the current part
  std::string held_;
};

// The template writes <think> blocks.
bool TemplateHasReasoning(std::string_view template_source);
// The rendered prompt ends inside an opened <think> block (trailing whitespace aside).
bool PromptOpensReasoning(std::string_view prompt);

// A whole answer: one Feed and a Finish.
ReasoningPiece SplitReasoning(bool starts_inside, std::string_view text);

}  // namespace tg::reasoning
