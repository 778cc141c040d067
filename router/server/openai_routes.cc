// OpenAI routes: /v1/completions and /v1/chat/completions, streaming or not, with n choices.
#include <algorithm>
#include <chrono>
#include <random>

#include "router/api/openai.h"
#include "router/engine/engine.h"
#include "router/engine/text_codec.h"
#include "router/metrics/metrics.h"
#include "router/server/routes.h"
#ifdef TG_HAVE_CHAT
#include "router/chat/chat_template.h"
#endif

namespace tg::server {
namespace {

using nlohmann::json;

#ifdef TG_HAVE_CHAT
class TemplateChatRenderer : public ChatRenderer {
 public:
  TemplateChatRenderer(const std::string& source, std::string bos, std::string eos)
      : template_(source), bos_(std::move(bos)), eos_(std::move(eos)) {}
  std::string Render(const json& messages, const json& tools) const override {
    chat::ChatRenderOptions options;
    options.add_generation_prompt = true;
    options.bos_token = bos_;
    options.eos_token = eos_;
    options.tools = tools;
    return template_.Render(messages, options);
  }

 private:
  chat::ChatTemplate template_;
  std::string bos_;
  std::string eos_;
};
#endif

std::string RandomId(const char* prefix) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(rng()));
  return std::string(prefix) + buf;
}

// One HTTP request fanned out into n engine requests (one per choice).
struct Pending {
  std::mutex mutex;
  api::OpenAiRequest request;
  api::OpenAiResponseMeta meta;
  std::shared_ptr<http::Responder> responder;
  std::vector<std::shared_ptr<engine::RequestHandle>> handles;
  std::vector<std::optional<engine::GenerationResult>> results;
  std::vector<size_t> streamed;   // bytes of text sent per choice
  std::vector<std::string> text;  // text generated so far per choice
  uint32_t remaining = 0;
  bool finished = false;

  void CancelAll() {
    std::lock_guard lock(mutex);
    for (auto& h : handles) h->Cancel();
  }

  json Usage() const {
    uint64_t completion = 0;
    for (const auto& r : results) completion += r ? r->generated_tokens : 0;
    return api::UsageJson(request.request.input_ids.size(), completion);
  }
};

// Bytes at the end of `text` that could still grow into a stop sequence: OpenAI never shows a
// stop sequence, so they are held back until the next token decides.
size_t HeldBack(const std::string& text, const std::vector<std::string>& stops) {
  size_t held = 0;
  for (const std::string& stop : stops) {
    for (size_t n = std::min(stop.size() - 1, text.size()); n > held; --n) {
      if (text.compare(text.size() - n, n, stop, 0, n) == 0) {
        held = n;
        break;
      }
    }
  }
  return held;
}

void Stream(Pending& p, uint32_t index, const engine::TokenEvent& event,
            const engine::GenerationResult* done) {
  std::string& text_so_far = p.text[index];
  if (!event.token.special) text_so_far += event.token.text;
  std::string text;
  if (done) {
    // The final piece: whatever the visible text (stop sequence removed) still lacks.
    const std::string visible = api::OpenAiText(*done);
    text = visible.size() > p.streamed[index] ? visible.substr(p.streamed[index]) : "";
  } else {
    const size_t safe =
        text_so_far.size() - HeldBack(text_so_far, p.request.request.stopping.stop_sequences);
    if (safe > p.streamed[index])
      text = text_so_far.substr(p.streamed[index], safe - p.streamed[index]);
  }
  p.streamed[index] += text.size();
  p.responder->Write("data: " + Dump(api::ChunkJson(p.request, p.meta, index, event, text, done)) +
                     "\n\n");
  if (!done) return;
  p.results[index] = *done;
  if (--p.remaining > 0) return;
  p.finished = true;
  if (p.request.include_usage) {
    p.responder->Write("data: " + Dump(api::UsageChunkJson(p.request, p.meta, p.Usage())) + "\n\n");
  }
  p.responder->Write("data: [DONE]\n\n");
  p.responder->End();
}

void Complete(Pending& p, uint32_t index, const engine::GenerationResult& done) {
  p.results[index] = done;
  if (--p.remaining > 0) return;
  p.finished = true;
  json choices = json::array();
  for (uint32_t i = 0; i < p.results.size(); ++i) {
    choices.push_back(api::ChoiceJson(p.request, i, *p.results[i]));
  }
  p.responder->Send(
      JsonResponse(200, api::ResponseJson(p.request, p.meta, std::move(choices), p.Usage())));
}

}  // namespace

std::unique_ptr<ChatRenderer> MakeChatRenderer(const std::string& source,
                                               const engine::TextCodec& codec) {
  if (source.empty()) return nullptr;
#ifdef TG_HAVE_CHAT
  return std::make_unique<TemplateChatRenderer>(source, codec.bos_token(), codec.eos_token());
#else
  (void)codec;
  return nullptr;
#endif
}

void HandleOpenAi(App::Context& c, const http::Request& request,
                  std::shared_ptr<http::Responder> responder, bool chat) {
  c.metrics.Increment("tgi_request_count");
  engine::Engine& engine = RequireEngine(c);
  const json body = api::ParseJsonBody(request.body);
  api::OpenAiRequest parsed =
      chat ? api::ParseChatRequest(body) : api::ParseCompletionRequest(body);
  if (parsed.n > c.validator.limits().max_best_of) {
    throw Error(ErrorKind::kInvalidArgument,
                "`n` must be <= " + std::to_string(c.validator.limits().max_best_of));
  }
  std::string prompt = parsed.prompt;
  bool add_special_tokens = true;
  if (chat) {
    if (!c.chat) throw Error(ErrorKind::kInvalidArgument, c.chat_error);
    prompt = c.chat->Render(parsed.messages, parsed.tools);
    add_special_tokens = false;  // the template wrote BOS itself
  }
  const bool seed_given = parsed.request.seed_given;
  parsed.request.seed_given = false;  // n > 1 with a seed is fine here: choices get seed + i
  parsed.request = c.validator.Finish(std::move(prompt), std::move(parsed.request),
                                      parsed.max_tokens_given, add_special_tokens);
  parsed.request.seed_given = seed_given;
  engine.Admit(parsed.n);

  auto pending = std::make_shared<Pending>();
  pending->request = parsed;
  pending->meta = {.id = RandomId(chat ? "chatcmpl-" : "cmpl-"),
                   .created = std::chrono::duration_cast<std::chrono::seconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count(),
                   .model = c.config.served_model_name};
  pending->responder = responder;
  pending->remaining = parsed.n;
  pending->results.resize(parsed.n);
  pending->streamed.assign(parsed.n, 0);
  pending->text.assign(parsed.n, "");
  const bool stream = parsed.stream;
  if (stream) {
    responder->StartStream(200, "text/event-stream",
                           {{"Cache-Control", "no-cache"}, {"X-Accel-Buffering", "no"}});
  }
  for (uint32_t i = 0; i < parsed.n; ++i) {
    engine::Callbacks callbacks;
    callbacks.on_token = [pending, stream, i](const engine::TokenEvent& event,
                                              const engine::GenerationResult* done) {
      std::lock_guard lock(pending->mutex);
      if (pending->finished) return;
      if (stream) return Stream(*pending, i, event, done);
      if (done) Complete(*pending, i, *done);
    };
    callbacks.on_error = [pending, stream](ErrorKind kind, const std::string& message) {
      std::vector<std::shared_ptr<engine::RequestHandle>> handles;
      {
        std::lock_guard lock(pending->mutex);
        if (pending->finished) return;
        pending->finished = true;
        handles = pending->handles;
      }
      for (auto& h : handles) h->Cancel();
      http::Response error = ErrorResponse(kind, message, /*openai=*/true);
      if (stream) {
        pending->responder->Write("data: " + error.body + "\n\n");
        pending->responder->End();
      } else {
        pending->responder->Send(std::move(error));
      }
    };
    api::ValidatedRequest copy = parsed.request;
    if (seed_given) copy.sampling.seed += i;
    copy.seed_given = seed_given;
    auto handle = engine.Submit(std::move(copy), std::move(callbacks));
    std::lock_guard lock(pending->mutex);
    pending->handles.push_back(std::move(handle));
  }
  responder->OnDisconnect([pending] { pending->CancelAll(); });
}

}  // namespace tg::server
