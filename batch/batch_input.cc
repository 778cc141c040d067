#include "batch/batch_input.h"

#include "common/error.h"
#include "router/api/validation.h"
#include "router/chat/chat_template.h"

namespace tg::batch {

using nlohmann::json;

LineParser::LineParser(const api::Validator& validator, const chat::ChatTemplate* chat,
                       std::string bos, std::string eos)
    : validator_(validator), chat_(chat), bos_(std::move(bos)), eos_(std::move(eos)) {}

json LineParser::IdOf(const std::string& line) {
  const json value = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (value.is_object() && value.contains("id")) return value["id"];
  return nullptr;
}

BatchItem LineParser::Parse(const std::string& line) const {
  const json value = api::ParseJsonBody(line);
  if (!value.is_object()) throw Error(ErrorKind::kInvalidArgument, "a line must be a JSON object");
  api::RejectUnknownKeys(value, {"id", "prompt", "messages", "parameters"}, "the line");
  const bool has_prompt = value.contains("prompt");
  const bool has_messages = value.contains("messages");
  if (has_prompt == has_messages) {
    throw Error(ErrorKind::kInvalidArgument, "a line needs exactly one of `prompt` or `messages`");
  }
  BatchItem item;
  item.id = value.value("id", json(nullptr));
  json body = {{"parameters", value.value("parameters", json::object())}};
  if (has_prompt) {
    if (!value["prompt"].is_string()) {
      throw Error(ErrorKind::kInvalidArgument, "`prompt` must be a string");
    }
    body["inputs"] = value["prompt"];
    item.request = validator_.ValidateTgi(body);
    return item;
  }
  const json& messages = value["messages"];
  if (!messages.is_array() || messages.empty()) {
    throw Error(ErrorKind::kInvalidArgument, "`messages` must be a non-empty list");
  }
  if (!chat_) throw Error(ErrorKind::kInvalidArgument, "this model has no chat template");
  chat::ChatRenderOptions options;
  options.add_generation_prompt = true;
  options.bos_token = bos_;
  options.eos_token = eos_;
  const std::string prompt = chat_->Render(nlohmann::ordered_json::parse(messages.dump()), options);
  // Validate the parameters exactly as POST /generate does, then tokenize the rendered chat
  // again without adding BOS a second time (the template writes it). Finish is idempotent on the
  // parameters.
  body["inputs"] = prompt;
  api::ValidatedRequest request = validator_.ValidateTgi(body);
  request.input_ids.clear();
  const bool max_new_given = body["parameters"].contains("max_new_tokens");
  item.request = validator_.Finish(prompt, std::move(request), max_new_given,
                                   /*add_special_tokens=*/false);
  return item;
}

}  // namespace tg::batch
