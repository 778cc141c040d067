#include "batch/batch_input.h"

#include "common/error.h"
#include "router/api/json_fields.h"
#include "router/api/tgi_request.h"
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
  const api::Json value = api::ParseJsonBody(line);
  if (!value.is_object()) throw Error(ErrorKind::kInvalidArgument, "a line must be a JSON object");
  api::RejectUnknownKeys(value, {"id", "prompt", "messages", "parameters"}, "the line");
  const bool has_prompt = value.contains("prompt");
  const bool has_messages = value.contains("messages");
  if (has_prompt == has_messages) {
    throw Error(ErrorKind::kInvalidArgument, "a line needs exactly one of `prompt` or `messages`");
  }
  json id = value.value("id", api::Json(nullptr));  // for the output record, a response
  // Read after the prompt's own checks, so a line's first error is reported as before.
  auto parameters = [&value] {
    const api::Json* p = api::Field(value, "parameters");
    return p ? api::ParseTgiParameters(*p) : api::RawParameters{};
  };
  if (has_prompt) {
    if (!value["prompt"].is_string()) {
      throw Error(ErrorKind::kInvalidArgument, "`prompt` must be a string");
    }
    return {.id = std::move(id),
            .request = validator_.Validate(parameters(), {.text = value["prompt"]})};
  }
  const api::Json& messages = value["messages"];
  if (!messages.is_array() || messages.empty()) {
    throw Error(ErrorKind::kInvalidArgument, "`messages` must be a non-empty list");
  }
  if (!chat_) throw Error(ErrorKind::kInvalidArgument, "this model has no chat template");
  chat::ChatRenderOptions options;
  options.add_generation_prompt = true;
  options.bos_token = bos_;
  options.eos_token = eos_;
  // Validated exactly as POST /generate; the template writes BOS itself.
  std::string prompt = chat_->Render(messages, options);
  return {.id = std::move(id),
          .request = validator_.Validate(parameters(),
                                         {.text = std::move(prompt), .add_special_tokens = false})};
}

}  // namespace tg::batch
