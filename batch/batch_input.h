// One line of a text-gen-batch input file, turned into an engine request.
//
// A line is a JSON object with either "prompt" (text, tokenized with the model's special tokens)
// or "messages" (a chat, rendered with the model's chat template), optional "parameters" (TGI's
// generation parameters, validated exactly like POST /generate) and an optional "id" echoed in
// the output. Anything else is a per-line error.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "router/api/request.h"

namespace tg::api {
class Validator;
}
namespace tg::chat {
class ChatTemplate;
}

namespace tg::batch {

struct BatchItem {
  nlohmann::json id;  // null when the line has none
  api::ValidatedRequest request;
};

class LineParser {
 public:
  // `chat` may be null (the model has no template): "messages" lines are then errors.
  LineParser(const api::Validator& validator, const chat::ChatTemplate* chat, std::string bos,
             std::string eos);
  // Throws tg::Error(kInvalidArgument) with a message for the output's error record.
  BatchItem Parse(const std::string& line) const;
  // The "id" of a line, when it is valid JSON with one (for error records); null otherwise.
  static nlohmann::json IdOf(const std::string& line);

 private:
  const api::Validator& validator_;
  const chat::ChatTemplate* chat_;
  std::string bos_;
  std::string eos_;
};

}  // namespace tg::batch
