// TGI routes: /generate, /generate_stream, POST / and /invocations.
#include <chrono>
#include <cmath>

#include "router/api/json_fields.h"
#include "router/api/tgi_format.h"
#include "router/api/tgi_request.h"
#include "router/api/validation.h"
#include "router/engine/engine.h"
#include "router/metrics/metrics.h"
#include "router/server/routes.h"
#include "router/server/sequence_fan_out.h"

namespace tg::server {
namespace {

using nlohmann::json;

std::string Millis(double seconds) { return std::to_string(std::llround(seconds * 1000.0)); }

double LogprobSum(const engine::GenerationResult& r) {
  double sum = 0.0;
  for (const auto& t : r.tokens) sum += std::isfinite(t.logprob) ? t.logprob : 0.0;
  return sum;
}

// State of one HTTP request that may fan out into best_of engine requests. Engine callbacks run
// on the engine's delivery thread; disconnects arrive on a network thread, hence the mutex.
struct Pending : SequenceFanOut {
  explicit Pending(api::ValidatedRequest validated) : request(std::move(validated)) {}

  const api::ValidatedRequest request;
  std::shared_ptr<http::Responder> responder;
  std::vector<engine::GenerationResult> results;
  uint32_t remaining = 0;
  bool wrap_in_list = false;
};

void RespondGenerate(Pending& p) {
  // best_of: the sequence with the highest total logprob wins; the others go in details.
  size_t best = 0;
  for (size_t i = 1; i < p.results.size(); ++i) {
    if (LogprobSum(p.results[i]) > LogprobSum(p.results[best])) best = i;
  }
  std::vector<engine::GenerationResult> others;
  for (size_t i = 0; i < p.results.size(); ++i) {
    if (i != best) others.push_back(p.results[i]);
  }
  const engine::GenerationResult& r = p.results[best];
  json body = api::GenerateResponseJson(p.request, r, others);
  if (p.wrap_in_list) body = json::array({std::move(body)});
  http::Response response = JsonResponse(200, body);
  response.headers = {{"x-compute-type", "text-gen"},
                      {"x-compute-time", Millis(r.inference_seconds)},
                      {"x-total-time", Millis(r.total_seconds)},
                      {"x-queue-time", Millis(r.queue_seconds)},
                      {"x-inference-time", Millis(r.inference_seconds)},
                      {"x-time-per-token", Millis(r.time_per_token_seconds)},
                      {"x-prompt-tokens", std::to_string(r.input_tokens)},
                      {"x-generated-tokens", std::to_string(r.generated_tokens)}};
  p.responder->Send(std::move(response));
}

}  // namespace

void HandleGenerate(App::Context& c, const http::Request& request,
                    std::shared_ptr<http::Responder> responder, TgiStreamMode mode,
                    bool wrap_in_list) {
  c.metrics.Increment("tgi_request_count");
  engine::Engine& engine = RequireEngine(c);
  const api::RawTgiRequest raw = api::ParseTgiRequest(api::ParseJsonBody(request.body));
  api::ValidatedRequest validated = c.validator.Validate(raw.parameters, {.text = raw.inputs});
  bool stream = mode == TgiStreamMode::kAlways;
  if (mode == TgiStreamMode::kFromBody) stream = raw.stream.value_or(false);
  if (stream && validated.best_of() > 1) {
    throw Error(ErrorKind::kInvalidArgument, "`best_of` != 1 is not allowed for this endpoint");
  }
  const uint32_t count = validated.best_of();
  std::vector<engine::Permit> permits = engine.Admit(count);

  auto pending = std::make_shared<Pending>(std::move(validated));
  pending->responder = responder;
  pending->remaining = count;
  pending->wrap_in_list = wrap_in_list;

  if (stream) {
    responder->StartStream(200, "text/event-stream",
                           {{"Cache-Control", "no-cache"}, {"X-Accel-Buffering", "no"}});
  }
  engine::Callbacks callbacks;
  callbacks.on_token = [pending, stream](const engine::TokenEvent& event,
                                         const engine::GenerationResult* done) {
    if (stream) {
      pending->responder->Write(
          "data:" + Dump(api::StreamEventJson(pending->request, event, done)) + "\n\n");
      if (done) pending->responder->End();
      return;
    }
    if (!done) return;
    std::lock_guard lock(pending->mutex);
    if (pending->finished) return;
    pending->results.push_back(*done);
    if (--pending->remaining == 0) {
      pending->finished = true;
      RespondGenerate(*pending);
    }
  };
  callbacks.on_error = [pending, stream](ErrorKind kind, const std::string& message) {
    if (!pending->FinishAndCancel()) return;
    if (stream) {
      http::Response error = ErrorResponse(kind, message, false);
      pending->responder->Write("data:" + error.body + "\n\n");
      pending->responder->End();
    } else {
      pending->responder->Send(ErrorResponse(kind, message, false));
    }
  };
  for (uint32_t i = 0; i < count; ++i) {
    auto handle = engine.Submit(std::move(permits[i]), pending->request.Sequence(i), callbacks);
    pending->Add(std::move(handle));
  }
  responder->OnDisconnect([pending] { pending->CancelAll(); });
}

}  // namespace tg::server
