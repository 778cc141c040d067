// OpenAI routes: /v1/completions and /v1/chat/completions, streaming or not, with n choices.
#include <algorithm>
#include <chrono>
#include <random>

#include "router/api/json_fields.h"
#include "router/api/openai.h"
#include "router/chat/chat_template.h"
#include "router/engine/engine.h"
#include "router/engine/text_codec.h"
#include "router/metrics/metrics.h"
#include "router/reasoning/reasoning_parser.h"
#include "router/server/routes.h"
#include "router/server/sequence_fan_out.h"
#include "router/tools/tool_call_stream.h"
#include "router/tools/tool_prompt.h"
#include "router/tools/tool_request.h"

namespace tg::server {
namespace {

using nlohmann::json;

class TemplateChatRenderer : public ChatRenderer {
 public:
  TemplateChatRenderer(const std::string& source, std::string bos, std::string eos)
      : template_(source),
        bos_(std::move(bos)),
        eos_(std::move(eos)),
        has_tools_(source.find("tools") != std::string::npos),
        tool_format_(tools::ToolCallFormatOf(source)),
        has_reasoning_(reasoning::TemplateHasReasoning(source)) {}
  std::string Render(const api::Json& messages, const api::Json& tools) const override {
    chat::ChatRenderOptions options;
    options.add_generation_prompt = true;
    options.bos_token = bos_;
    options.eos_token = eos_;
    options.tools = tools;
    return template_.Render(messages, options);
  }
  bool has_tool_format() const override { return has_tools_; }
  tools::ToolCallFormat tool_format() const override { return tool_format_; }
  bool has_reasoning() const override { return has_reasoning_; }

 private:
  chat::ChatTemplate template_;
  std::string bos_;
  std::string eos_;
  bool has_tools_;
  tools::ToolCallFormat tool_format_;
  bool has_reasoning_;
};

std::string RandomId(const char* prefix) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(rng()));
  return std::string(prefix) + buf;
}

// One choice: prompt `prompt` (of the request's prompts), generation number i of its n.
struct Choice {
  const api::ValidatedRequest* prompt = nullptr;  // in Pending::prompts
  uint64_t prompt_tokens = 0;
  bool first_prompt_choice = false;  // counts the prompt in usage once
  std::optional<engine::GenerationResult> result;
  size_t streamed = 0;      // bytes of text sent
  std::string text;         // text generated so far
  size_t token_offset = 0;  // text_offset of the next streamed token
  uint32_t tokens = 0;      // tokens generated so far
  bool echoed = false;
  // Streaming chat: the reasoning split off first, then tool calls read from the content.
  std::optional<reasoning::ReasoningParser> reasoning_parser;
  std::optional<tools::ToolCallStream> tool_stream;
  std::vector<std::string> call_ids;  // of the calls streamed so far
};

// How a chat answer is read (Pending::reading): reasoning, then tool calls.
struct AnswerReading {
  bool reasoning = false;                // the template writes <think> blocks
  bool reasoning_starts_inside = false;  // ... and the prompt opened one
  bool tools = false;
  tools::ToolReading tool_reading;
};

// One HTTP request fanned out into one engine request per choice (prompts x n).
struct Pending : SequenceFanOut {
  api::OpenAiRequest request;
  std::vector<api::ValidatedRequest> prompts;  // one per prompt, n choices each
  api::OpenAiResponseMeta meta;
  std::shared_ptr<http::Responder> responder;
  std::vector<Choice> choices;
  AnswerReading reading;
  uint32_t remaining = 0;

  json Usage() const {
    uint64_t prompt = 0;
    uint64_t completion = 0;
    for (const Choice& c : choices) {
      if (c.first_prompt_choice) prompt += c.prompt_tokens;
      completion += c.result ? c.result->generated_tokens : c.tokens;
    }
    return api::UsageJson(prompt, completion);
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

void WriteChunk(Pending& p, uint32_t index, const std::string& text, json logprobs,
                const engine::GenerationResult* done, bool made_tool_calls = false,
                std::string_view reasoning = {}) {
  const Choice& c = p.choices[index];
  json usage = p.request.continuous_usage
                   ? api::UsageJson(c.prompt_tokens, done ? done->generated_tokens : c.tokens)
                   : json(nullptr);
  p.responder->Write("data: " +
                     Dump(api::ChunkJson(p.request, p.meta, index, text, std::move(logprobs), done,
                                         std::move(usage), made_tool_calls, reasoning)) +
                     "\n\n");
}

// Chat with reasoning or tools: the visible text goes through the choice's parsers; reasoning
// and content come out as reasoning_content and content deltas, tool calls as delta.tool_calls
// chunks while they are written (a call's name, then its argument text as it grows).
void StreamParsed(Pending& p, uint32_t index, const std::string& text, json logprobs,
                  const engine::GenerationResult* done) {
  Choice& c = p.choices[index];
  reasoning::ReasoningPiece split{.reasoning = "", .content = text};
  if (c.reasoning_parser) {
    split = c.reasoning_parser->Feed(text);
    if (done) {
      reasoning::ReasoningPiece rest = c.reasoning_parser->Finish();
      split.reasoning += rest.reasoning;
      split.content += rest.content;
    }
  }
  tools::ParsedPiece piece{.content = split.content, .parts = {}};
  if (c.tool_stream) {
    piece = c.tool_stream->Feed(split.content);
    if (done) {
      tools::ParsedPiece rest = c.tool_stream->Finish();
      piece.content += rest.content;
      for (tools::CallPart& part : rest.parts) piece.parts.push_back(std::move(part));
    }
  }
  if (piece.parts.empty()) {
    WriteChunk(p, index, piece.content, std::move(logprobs), done, !c.call_ids.empty(),
               split.reasoning);
    return;
  }
  if (!piece.content.empty() || !split.reasoning.empty() || !logprobs.is_null()) {
    WriteChunk(p, index, piece.content, std::move(logprobs), nullptr, false, split.reasoning);
  }
  for (const tools::CallPart& part : piece.parts) {
    if (!part.name.empty()) {
      c.call_ids.push_back(RandomId("call_"));
      p.responder->Write("data: " +
                         Dump(api::ToolCallStartChunkJson(p.request, p.meta, index, part.index,
                                                          c.call_ids.back(), part.name)) +
                         "\n\n");
    }
    if (!part.arguments.empty()) {
      p.responder->Write("data: " +
                         Dump(api::ToolCallArgumentsChunkJson(p.request, p.meta, index, part.index,
                                                              part.arguments)) +
                         "\n\n");
    }
  }
  if (done) WriteChunk(p, index, "", nullptr, done, /*made_tool_calls=*/true);
}

void Stream(Pending& p, uint32_t index, const engine::TokenEvent& event,
            const engine::GenerationResult* done) {
  Choice& c = p.choices[index];
  const bool prompt_only = done && done->generated_tokens == 0;
  if (p.request.echo && !c.echoed) {
    // The prompt goes first, with its tokens' logprobs when asked.
    c.echoed = true;
    json logprobs = nullptr;
    if (p.request.logprobs && event.so_far) {
      logprobs = api::CompletionLogprobsJson(&event.so_far->prefill,
                                             &event.so_far->prefill_top_tokens, {}, {}, 0);
    }
    c.token_offset = c.prompt->inputs().size();
    WriteChunk(p, index, c.prompt->inputs(), std::move(logprobs), prompt_only ? done : nullptr);
  } else if (prompt_only) {
    WriteChunk(p, index, "", nullptr, done);
  }
  if (!prompt_only) {
    ++c.tokens;
    if (!event.token.special) c.text += event.token.text;
    std::string text;
    if (done) {
      // The final piece: whatever the visible text (stop sequence removed) still lacks.
      const std::string visible = api::OpenAiText(*c.prompt, *done);
      text = visible.size() > c.streamed ? visible.substr(c.streamed) : "";
    } else {
      const size_t safe = c.text.size() - HeldBack(c.text, c.prompt->stopping().stop_sequences);
      if (safe > c.streamed) text = c.text.substr(c.streamed, safe - c.streamed);
    }
    c.streamed += text.size();
    json logprobs = p.request.logprobs ? api::LogprobsJson(p.request, {event.token},
                                                           {event.top_tokens}, c.token_offset)
                                       : json(nullptr);
    c.token_offset += event.token.text.size();
    if (c.tool_stream || c.reasoning_parser) {
      StreamParsed(p, index, text, std::move(logprobs), done);
    } else {
      WriteChunk(p, index, text, std::move(logprobs), done);
    }
  }
  if (!done) return;
  c.result = *done;
  if (--p.remaining > 0) return;
  p.finished = true;
  if (p.request.include_usage) {
    p.responder->Write("data: " + Dump(api::UsageChunkJson(p.request, p.meta, p.Usage())) + "\n\n");
  }
  p.responder->Write("data: [DONE]\n\n");
  p.responder->End();
}

void Complete(Pending& p, uint32_t index, const engine::GenerationResult& done) {
  p.choices[index].result = done;
  if (--p.remaining > 0) return;
  p.finished = true;
  json choices = json::array();
  for (uint32_t i = 0; i < p.choices.size(); ++i) {
    const engine::GenerationResult& result = *p.choices[i].result;
    std::optional<api::ChatAnswer> answer;
    const AnswerReading& reading = p.reading;
    if (reading.reasoning || reading.tools) {
      answer.emplace();
      std::string content = api::OpenAiText(*p.choices[i].prompt, result);
      if (reading.reasoning) {
        reasoning::ReasoningPiece split =
            reasoning::SplitReasoning(reading.reasoning_starts_inside, content);
        answer->reasoning = std::move(split.reasoning);
        content = std::move(split.content);
      }
      answer->content.content = std::move(content);
      if (reading.tools) {
        answer->content = tools::ReadToolAnswer(reading.tool_reading, answer->content.content);
        for (tools::ToolCall& call : answer->content.calls) call.id = RandomId("call_");
      }
    }
    choices.push_back(
        api::ChoiceJson(p.request, *p.choices[i].prompt, i, result, answer ? &*answer : nullptr));
  }
  p.responder->Send(
      JsonResponse(200, api::ResponseJson(p.request, p.meta, std::move(choices), p.Usage())));
}

// Tools that take part are read from the answer. A forced call, and any call on a template with
// no tool format, is constrained by the grammar to the JSON call format (tool_request.h).
AnswerReading PlanTools(api::OpenAiRequest& parsed, bool native, tools::ToolCallFormat format) {
  const tools::ToolRequest& t = parsed.tools;
  AnswerReading reading;
  if (!t.active()) return reading;
  reading.tools = true;
  reading.tool_reading = {.format = format, .allow_no_tool = false, .one_call = t.one_call()};
  if (t.forced() || !native) {
    reading.tool_reading.format = tools::ToolCallFormat::kJson;
    reading.tool_reading.allow_no_tool = !t.forced();
    parsed.parameters.grammar = tools::CallGrammar(t, reading.tool_reading.allow_no_tool);
  }
  return reading;
}

}  // namespace

std::unique_ptr<ChatRenderer> MakeChatRenderer(const std::string& source,
                                               const engine::TextCodec& codec) {
  if (source.empty()) return nullptr;
  return std::make_unique<TemplateChatRenderer>(source, codec.bos_token(), codec.eos_token());
}

void HandleOpenAi(App::Context& c, const http::Request& request,
                  std::shared_ptr<http::Responder> responder, bool chat) {
  c.metrics.Increment("tgi_request_count");
  engine::Engine& engine = RequireEngine(c);
  const api::Json body = api::ParseJsonBody(request.body);
  api::OpenAiRequest parsed =
      chat ? api::ParseChatRequest(body) : api::ParseCompletionRequest(body);
  if (parsed.n > c.validator.limits().max_best_of) {
    throw Error(ErrorKind::kInvalidArgument,
                "`n` must be <= " + std::to_string(c.validator.limits().max_best_of));
  }
  // One validated request per prompt: chat renders one; completions take one or more.
  std::vector<api::ValidatedRequest> prompts;
  AnswerReading reading;
  if (chat) {
    if (!c.chat) throw Error(ErrorKind::kInvalidArgument, c.chat_error);
    const bool native = c.chat->has_tool_format();
    reading = PlanTools(parsed, native, c.chat->tool_format());
    const api::Json messages = tools::PrepareMessages(parsed.messages, parsed.tools, native);
    const api::Json template_tools =
        native && parsed.tools.active() ? parsed.tools.tools : api::Json();
    // The template wrote BOS itself.
    prompts.push_back(c.validator.Validate(
        parsed.parameters,
        {.text = c.chat->Render(messages, template_tools), .add_special_tokens = false}));
    // When the prompt opened a <think> block, a grammar writes the answer, not thinking.
    const bool opens = reasoning::PromptOpensReasoning(prompts.back().inputs());
    reading.reasoning = c.chat->has_reasoning() &&
                        !(opens && prompts.back().grammar().type != api::GrammarType::kNone);
    reading.reasoning_starts_inside = reading.reasoning && opens;
  } else {
    std::vector<api::Prompt> inputs;
    for (api::CompletionPrompt& prompt : parsed.prompts) {
      if (prompt.tokenized) {
        prompt.text = c.codec.Decode(prompt.ids, /*skip_special=*/false);
        inputs.push_back({.text = prompt.text, .ids = prompt.ids});
      } else {
        inputs.push_back({.text = prompt.text});
      }
    }
    prompts = c.validator.ValidateEach(parsed.parameters, std::move(inputs),
                                       api::NewTokens::kZeroAllowed);
  }
  const uint32_t total = static_cast<uint32_t>(prompts.size()) * parsed.n;
  std::vector<engine::Permit> permits = engine.Admit(total);

  auto pending = std::make_shared<Pending>();
  pending->request = parsed;
  pending->prompts = std::move(prompts);
  pending->meta = {.id = RandomId(chat ? "chatcmpl-" : "cmpl-"),
                   .created = std::chrono::duration_cast<std::chrono::seconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count(),
                   .model = c.config.served_model_name,
                   // Every prompt shares the seed (Validator::ValidateEach).
                   .seed = api::ResponseSeed(pending->prompts.front())};
  pending->responder = responder;
  pending->remaining = total;
  pending->reading = reading;
  pending->choices.resize(total);
  for (uint32_t i = 0; i < total; ++i) {
    Choice& choice = pending->choices[i];
    const api::ValidatedRequest& prompt = pending->prompts[i / parsed.n];
    choice.prompt = &prompt;
    choice.prompt_tokens = prompt.input_ids().size();
    choice.first_prompt_choice = i % parsed.n == 0;
    if (reading.tools && parsed.stream) choice.tool_stream.emplace(reading.tool_reading);
    if (reading.reasoning && parsed.stream) {
      choice.reasoning_parser.emplace(reading.reasoning_starts_inside);
    }
  }
  const bool stream = parsed.stream;
  if (stream) {
    responder->StartStream(200, "text/event-stream",
                           {{"Cache-Control", "no-cache"}, {"X-Accel-Buffering", "no"}});
  }
  for (uint32_t i = 0; i < total; ++i) {
    engine::Callbacks callbacks;
    callbacks.on_token = [pending, stream, i](const engine::TokenEvent& event,
                                              const engine::GenerationResult* done) {
      std::lock_guard lock(pending->mutex);
      if (pending->finished) return;
      if (stream) return Stream(*pending, i, event, done);
      if (done) Complete(*pending, i, *done);
    };
    callbacks.on_error = [pending, stream](ErrorKind kind, const std::string& message) {
      if (!pending->FinishAndCancel()) return;
      http::Response error = ErrorResponse(kind, message, /*openai=*/true);
      if (stream) {
        pending->responder->Write("data: " + error.body + "\n\n");
        pending->responder->End();
      } else {
        pending->responder->Send(std::move(error));
      }
    };
    // Choice index = prompt * n + i, as OpenAI numbers them; the n choices of a prompt draw apart.
    auto handle =
        engine.Submit(std::move(permits[i]), pending->prompts[i / parsed.n].Sequence(i % parsed.n),
                      std::move(callbacks));
    pending->Add(std::move(handle));
  }
  responder->OnDisconnect([pending] { pending->CancelAll(); });
}

}  // namespace tg::server
