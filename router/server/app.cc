#include "router/server/app.h"

#include <spdlog/spdlog.h>

#include "router/api/json_fields.h"
#include "router/api/openai.h"
#include "router/api/tgi_format.h"
#include "router/engine/engine.h"
#include "router/engine/text_codec.h"
#include "router/metrics/metrics.h"
#include "router/server/routes.h"
#include "router/web/pages.h"

namespace tg::server {
namespace {

using nlohmann::json;

// Adds CORS headers to whatever the routes answer.
class CorsResponder : public http::Responder {
 public:
  CorsResponder(std::shared_ptr<http::Responder> inner, std::string origin)
      : inner_(std::move(inner)), origin_(std::move(origin)) {}
  void Send(http::Response response) override {
    AddHeaders(response.headers);
    inner_->Send(std::move(response));
  }
  void StartStream(int status, std::string content_type, http::Headers headers) override {
    AddHeaders(headers);
    inner_->StartStream(status, std::move(content_type), std::move(headers));
  }
  void Write(std::string data) override { inner_->Write(std::move(data)); }
  void End() override { inner_->End(); }
  void OnDisconnect(std::function<void()> callback) override {
    inner_->OnDisconnect(std::move(callback));
  }

 private:
  void AddHeaders(http::Headers& headers) const {
    headers.emplace_back("Access-Control-Allow-Origin", origin_);
    headers.emplace_back("Vary", "Origin");
  }
  std::shared_ptr<http::Responder> inner_;
  std::string origin_;
};

std::string AllowedOrigin(const AppConfig& config, const std::string& origin) {
  if (origin.empty()) return "";
  for (const std::string& allowed : config.cors_allow_origins) {
    if (allowed == "*" || allowed == origin) return origin;
  }
  return "";
}

bool Authorized(const AppConfig& config, const http::Request& request) {
  if (!config.api_key) return true;
  return request.Header("authorization") == "Bearer " + *config.api_key;
}

bool IsOpenAiPath(const std::string& path) { return path.rfind("/v1/", 0) == 0; }

// Why the server should not get traffic now, or empty when it should.
std::string NotReadyReason(App::Context& c) {
  if (c.draining.load()) return "the server is draining";
  engine::Engine* engine = c.engine.load();
  if (!engine) return "the shards are warming up";
  if (!engine->healthy()) return "a shard failed";
  if (c.config.max_queue_ready && engine->queue_size() > *c.config.max_queue_ready) {
    return "the queue is over --max-queue-ready";
  }
  return "";
}

void HandleTokenize(App::Context& c, const http::Request& request, http::Responder& responder) {
  api::Json body = api::ParseJsonBody(request.body);
  api::RejectUnknownKeys(body, {"inputs", "parameters", "add_special_tokens"}, "the request");
  if (!body.contains("inputs") || !body["inputs"].is_string()) {
    throw Error(ErrorKind::kInvalidArgument, "`inputs` must be a string");
  }
  const bool add_special = body.value("add_special_tokens", true);
  const std::vector<uint32_t> ids = c.codec.Encode(body["inputs"], add_special);
  json out = json::array();
  size_t offset = 0;
  for (uint32_t id : ids) {
    const std::string text = c.codec.Decode({id}, /*skip_special=*/false);
    out.push_back({{"id", id}, {"text", text}, {"start", offset}, {"stop", offset + text.size()}});
    offset += text.size();
  }
  responder.Send(JsonResponse(200, out));
}

void Route(App::Context& c, const http::Request& request,
           std::shared_ptr<http::Responder> responder) {
  const std::string& path = request.path;
  const bool get = request.method == "GET";
  const bool post = request.method == "POST";
  if (get && path == "/health") {
    const std::string reason = NotReadyReason(c);
    if (reason.empty()) return responder->Send({.status = 200, .body = ""});
    return responder->Send(JsonResponse(503, api::ErrorJson(reason, "unhealthy")));
  }
  if (get && path == "/metrics") {
    return responder->Send(
        {.status = 200, .content_type = "text/plain; version=0.0.4", .body = c.metrics.Render()});
  }
  if (auto page = web::BrowserRoute(request)) return responder->Send(std::move(*page));
  if (!Authorized(c.config, request)) {
    return responder->Send(JsonResponse(401, api::ErrorJson("Unauthorized", "unauthorized")));
  }
  if (get && path == "/info") {
    std::lock_guard lock(c.info_mutex);
    return responder->Send(JsonResponse(200, c.info));
  }
  if (get && path == "/v1/models") {
    json model = {{"id", c.config.served_model_name},
                  {"object", "model"},
                  {"created", 0},
                  {"owned_by", "text-gen"}};
    return responder->Send(JsonResponse(200, {{"object", "list"}, {"data", json::array({model})}}));
  }
  if (post && path == "/tokenize") return HandleTokenize(c, request, *responder);
  if (post && path == "/generate") {
    return HandleGenerate(c, request, responder, TgiStreamMode::kNever, false);
  }
  if (post && path == "/generate_stream") {
    return HandleGenerate(c, request, responder, TgiStreamMode::kAlways, false);
  }
  if (post && path == "/") {
    return HandleGenerate(c, request, responder, TgiStreamMode::kFromBody, true);
  }
  if (post && path == "/invocations") {
    // SageMaker sends either body shape to one path.
    if (request.body.find("\"messages\"") != std::string::npos) {
      return HandleOpenAi(c, request, responder, /*chat=*/true);
    }
    return HandleGenerate(c, request, responder, TgiStreamMode::kFromBody, false);
  }
  if (post && path == "/v1/completions") return HandleOpenAi(c, request, responder, false);
  if (post && path == "/v1/chat/completions") return HandleOpenAi(c, request, responder, true);
  static const char* kKnown[] = {"/health",
                                 "/metrics",
                                 "/info",
                                 "/v1/models",
                                 "/tokenize",
                                 "/generate",
                                 "/generate_stream",
                                 "/",
                                 "/invocations",
                                 "/v1/completions",
                                 "/v1/chat/completions"};
  for (const char* known : kKnown) {
    if (path == known) {
      return responder->Send(
          JsonResponse(405, api::ErrorJson("Method not allowed", "method_not_allowed")));
    }
  }
  responder->Send(JsonResponse(404, api::ErrorJson("Not found: " + path, "not_found")));
}

}  // namespace

std::string Dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

http::Response JsonResponse(int status, const json& body) {
  return {.status = status, .content_type = "application/json", .body = Dump(body)};
}

http::Response ErrorResponse(ErrorKind kind, const std::string& message, bool openai) {
  int status = 500;
  std::string type = "internal";
  switch (kind) {
    case ErrorKind::kInvalidArgument:
    case ErrorKind::kUnsupported:
      status = 422;
      type = "validation";
      break;
    case ErrorKind::kResourceExhausted:
      status = 429;
      type = "overloaded";
      break;
    case ErrorKind::kUnavailable:
      status = 424;
      type = "generation";
      break;
    case ErrorKind::kNotReady:
      status = 503;
      type = "unavailable";
      break;
    case ErrorKind::kNotFound:
      status = 404;
      type = "not_found";
      break;
    default:
      break;
  }
  http::Response response = JsonResponse(
      status, openai ? api::OpenAiErrorJson(message, type, status) : api::ErrorJson(message, type));
  if (status == 429) response.headers.emplace_back("Retry-After", "1");
  return response;
}

engine::Engine& RequireEngine(App::Context& c) {
  engine::Engine* engine = c.engine.load();
  if (c.draining.load()) throw Error(ErrorKind::kNotReady, "the server is draining");
  if (!engine) throw Error(ErrorKind::kNotReady, "the shards are warming up");
  return *engine;
}

App::App(AppConfig config, const engine::TextCodec& codec, const api::Validator& validator,
         metrics::Registry& metrics)
    : context_(new Context{.config = std::move(config),
                           .codec = codec,
                           .validator = validator,
                           .metrics = metrics}) {
  const std::string source = context_->config.chat_template.empty()
                                 ? codec.chat_template()
                                 : context_->config.chat_template;
  try {
    context_->chat = MakeChatRenderer(source, codec);
    if (!context_->chat) context_->chat_error = "this model has no chat template";
  } catch (const Error& e) {
    context_->chat_error = "the chat template does not parse: " + e.message();
    spdlog::warn("{}", context_->chat_error);
  }
}

App::~App() = default;

void App::AttachEngine(engine::Engine* engine) { context_->engine.store(engine); }

void App::SetInfo(json info) {
  std::lock_guard lock(context_->info_mutex);
  context_->info = std::move(info);
}

void App::StartDraining() { context_->draining.store(true); }

void App::Handle(http::Request request, std::shared_ptr<http::Responder> responder) {
  const std::string origin = AllowedOrigin(context_->config, request.Header("origin"));
  if (!origin.empty()) {
    responder = std::make_shared<CorsResponder>(std::move(responder), origin);
    if (request.method == "OPTIONS") {
      return responder->Send(
          {.status = 204,
           .content_type = "text/plain",
           .headers = {{"Access-Control-Allow-Methods", "GET, POST, OPTIONS"},
                       {"Access-Control-Allow-Headers", "Content-Type, Authorization"}}});
    }
  }
  try {
    Route(*context_, request, responder);
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::kInvalidArgument) {
      context_->metrics.Increment("tgi_request_failure", "err=\"validation\"");
    } else if (e.kind() == ErrorKind::kResourceExhausted) {
      context_->metrics.Increment("tgi_request_failure", "err=\"overloaded\"");
    }
    responder->Send(ErrorResponse(e.kind(), e.message(), IsOpenAiPath(request.path)));
  } catch (const nlohmann::json::exception& e) {
    // A JSON value of the wrong type that a route read without checking: the client's input.
    responder->Send(ErrorResponse(ErrorKind::kInvalidArgument,
                                  std::string("invalid request: ") + e.what(),
                                  IsOpenAiPath(request.path)));
  } catch (const std::exception& e) {
    spdlog::error("internal error on {}: {}", request.path, e.what());
    responder->Send(ErrorResponse(ErrorKind::kInternal, e.what(), IsOpenAiPath(request.path)));
  }
}

}  // namespace tg::server
