// Chat templates: renders a list of messages through a model's own Jinja template exactly as
// Hugging Face `transformers` does (trim_blocks + lstrip_blocks, its globals raise_exception and
// strftime_now, its tojson). The interpreter lives in jinja_*.h; this is the interface the router
// uses.
#pragma once

#include <ctime>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace tg::chat {

struct ChatRenderOptions {
  bool add_generation_prompt = true;
  std::string bos_token, eos_token;
  nlohmann::ordered_json tools =
      nullptr;  // the `tools` variable (None when null, like transformers)
  nlohmann::ordered_json extra_context =
      nlohmann::ordered_json::object();  // more template variables
  // The time strftime_now() reports; the current time when unset (tests pin it).
  std::optional<std::time_t> now;
};

// The template called raise_exception(message); message() is the template's own message.
class ChatTemplateError : public tg::Error {
 public:
  explicit ChatTemplateError(const std::string& message)
      : tg::Error(tg::ErrorKind::kInvalidArgument, message) {}
};

namespace jinja {
struct Template;
}

class ChatTemplate {
 public:
  // Parses the source; throws tg::Error(kInvalidArgument) on syntax errors.
  explicit ChatTemplate(std::string source);
  ~ChatTemplate();
  ChatTemplate(ChatTemplate&&) noexcept;
  ChatTemplate& operator=(ChatTemplate&&) noexcept;

  // Throws ChatTemplateError when the template raises, tg::Error on other render failures.
  // Messages are ordered JSON so that objects keep their key order (tojson of tool schemas and
  // message fields prints keys in the caller's order, like Python dicts); a nlohmann::json
  // converts implicitly, with its keys sorted.
  std::string Render(const nlohmann::ordered_json& messages,
                     const ChatRenderOptions& options) const;

 private:
  std::string source_;
  std::unique_ptr<jinja::Template> template_;
};

}  // namespace tg::chat
