// The router's HTTP application: routes (TGI + OpenAI), API key, CORS, readiness, metrics.
//
// It sits between the HTTP server (router/http) and the engine; it only sees http::Request and
// http::Responder, so it needs no sockets to reason about. Errors become HTTP responses in one
// function (ErrorResponse in app.cc).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "router/api/validation.h"
#include "router/http/server.h"

namespace tg::engine {
class Engine;
class TextCodec;
}  // namespace tg::engine
namespace tg::metrics {
class Registry;
}

namespace tg::server {

struct AppConfig {
  std::string model_id;
  std::string served_model_name;
  std::optional<std::string> api_key;
  std::vector<std::string> cors_allow_origins;
  std::optional<uint32_t> max_queue_ready;
  std::string chat_template;  // source; empty: the tokenizer's own
};

class App {
 public:
  App(AppConfig config, const engine::TextCodec& codec, const api::Validator& validator,
      metrics::Registry& metrics);
  ~App();

  // Generation routes answer 503 until an engine is attached (after shard warm-up).
  void AttachEngine(engine::Engine* engine);
  // /info body (model, limits); set once at start-up.
  void SetInfo(nlohmann::json info);
  // /health answers 503 from now on; generation routes too.
  void StartDraining();

  void Handle(http::Request request, std::shared_ptr<http::Responder> responder);

  struct Context;  // shared with the route files

 private:
  std::unique_ptr<Context> context_;
};

}  // namespace tg::server
