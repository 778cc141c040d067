#include "router/reasoning/reasoning_parser.h"

#include "router/api/partial_marker.h"

namespace tg::reasoning {
namespace {

constexpr std::string_view kOpen = "<think>";
constexpr std::string_view kClose = "</think>";
constexpr std::string_view kSpace = " \n\t\r";

}  // namespace

ReasoningParser::ReasoningParser(bool starts_inside)
    : state_(starts_inside ? State::kReasoning : State::kStart), skip_space_(true) {}

ReasoningPiece ReasoningParser::Feed(std::string_view text) {
  held_ += text;
  ReasoningPiece out;
  while (true) {
    if (skip_space_) {
      const size_t first = held_.find_first_not_of(kSpace);
      held_.erase(0, first == std::string::npos ? held_.size() : first);
      if (held_.empty()) return out;
      skip_space_ = false;
    }
    switch (state_) {
      case State::kStart:
        if (held_.size() < kOpen.size() && kOpen.starts_with(held_)) return out;
        if (held_.starts_with(kOpen)) {
          held_.erase(0, kOpen.size());
          state_ = State::kReasoning;
          skip_space_ = true;
          continue;
        }
        state_ = State::kContent;
        continue;
      case State::kReasoning: {
        const size_t close = held_.find(kClose);
        if (close == std::string::npos) {
          const size_t keep = api::PartialMarkerAtEnd(held_, kClose);
          out.reasoning += held_.substr(0, held_.size() - keep);
          held_.erase(0, held_.size() - keep);
          return out;
        }
        out.reasoning += held_.substr(0, close);
        held_.erase(0, close + kClose.size());
        state_ = State::kContent;
        skip_space_ = true;
        continue;
      }
      case State::kContent:
        out.content += held_;
        held_.clear();
        return out;
    }
  }
}

ReasoningPiece ReasoningParser::Finish() {
  ReasoningPiece out;
  if (state_ == State::kReasoning) {
    out.reasoning = std::move(held_);
  } else {
    out.content = std::move(held_);
  }
  held_.clear();
  return out;
}

bool TemplateHasReasoning(std::string_view template_source) {
  return template_source.find(kOpen) != std::string_view::npos;
}

bool PromptOpensReasoning(std::string_view prompt) {
  const size_t end = prompt.find_last_not_of(kSpace);
  if (end == std::string_view::npos) return false;
  return prompt.substr(0, end + 1).ends_with(kOpen);
}

ReasoningPiece SplitReasoning(bool starts_inside, std::string_view text) {
  ReasoningParser parser(starts_inside);
  ReasoningPiece out = parser.Feed(text);
  ReasoningPiece rest = parser.Finish();
  out.reasoning += rest.reasoning;
  out.content += rest.content;
  return out;
}

}  // namespace tg::reasoning
