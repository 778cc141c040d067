// Internal to router/server: what the route files share with app.cc.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "common/error.h"
#include "router/api/json_fields.h"
#include "router/api/validation.h"
#include "router/http/server.h"
#include "router/server/app.h"
#include "router/tools/tool_call_parser.h"

namespace tg::engine {
class Engine;
class TextCodec;
}  // namespace tg::engine
namespace tg::metrics {
class Registry;
}

namespace tg::server {

// Renders chat messages to a prompt; throws tg::Error(kInvalidArgument) when it cannot.
class ChatRenderer {
 public:
  virtual ~ChatRenderer() = default;
  virtual std::string Render(const api::Json& messages, const api::Json& tools) const = 0;
  // The template reads `tools` (else the tool prompt of router/tools/tool_prompt.h is used).
  virtual bool has_tool_format() const = 0;
  // How its model writes calls (meaningful when has_tool_format()).
  virtual tools::ToolCallFormat tool_format() const = 0;
  // The template writes <think> blocks: their text is answered as reasoning_content.
  virtual bool has_reasoning() const = 0;
};
// Null when the build has no chat-template library or there is no template.
std::unique_ptr<ChatRenderer> MakeChatRenderer(const std::string& source,
                                               const engine::TextCodec& codec);

struct App::Context {
  AppConfig config;
  const engine::TextCodec& codec;
  const api::Validator& validator;
  metrics::Registry& metrics;
  std::atomic<engine::Engine*> engine{nullptr};
  std::atomic<bool> draining{false};
  std::unique_ptr<ChatRenderer> chat;
  std::string chat_error;  // why `chat` is null
  std::mutex info_mutex;
  nlohmann::json info;
};

// The one place where errors become HTTP responses. `openai` picks OpenAI's error shape.
http::Response ErrorResponse(ErrorKind kind, const std::string& message, bool openai);
http::Response JsonResponse(int status, const nlohmann::json& body);
// Serializes with invalid UTF-8 replaced (token pieces may split characters).
std::string Dump(const nlohmann::json& value);
// The engine, or throws Error(kNotReady) while warming up or draining (HTTP 503).
engine::Engine& RequireEngine(App::Context& context);

// TGI: /generate, /generate_stream, / and /invocations (stream decided by the body or `stream`).
enum class TgiStreamMode { kNever, kAlways, kFromBody };
void HandleGenerate(App::Context& context, const http::Request& request,
                    std::shared_ptr<http::Responder> responder, TgiStreamMode mode,
                    bool wrap_in_list);
// OpenAI: /v1/completions (chat false) and /v1/chat/completions (chat true).
void HandleOpenAi(App::Context& context, const http::Request& request,
                  std::shared_ptr<http::Responder> responder, bool chat);

}  // namespace tg::server
