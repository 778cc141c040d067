#include "bench/stream_events.h"

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace tg::bench {

Protocol ParseProtocol(const std::string& name) {
  if (name == "tgi") return Protocol::kTgi;
  if (name == "openai") return Protocol::kOpenAiCompletions;
  throw Error(ErrorKind::kInvalidArgument, "unknown protocol '" + name + "' (tgi, openai)");
}

const char* ToString(Protocol protocol) { return protocol == Protocol::kTgi ? "tgi" : "openai"; }

void StreamAccumulator::OnChunk(double elapsed) {
  if (ttft_ < 0) {
    ttft_ = elapsed;
  } else {
    itl_.push_back(elapsed - last_);
  }
  last_ = elapsed;
  ++chunks_;
}

void StreamAccumulator::OnEvent(const std::string& data, double elapsed) {
  if (done_ || !error_.empty()) return;
  if (protocol_ == Protocol::kOpenAiCompletions && data == "[DONE]") {
    done_ = true;
    return;
  }
  nlohmann::json event = nlohmann::json::parse(data, nullptr, /*allow_exceptions=*/false);
  if (event.is_discarded() || !event.is_object()) {
    error_ = "malformed stream event: " + data.substr(0, 200);
    return;
  }
  if (event.contains("error")) {
    error_ = event["error"].is_string() ? event["error"].get<std::string>() : event["error"].dump();
    return;
  }
  if (protocol_ == Protocol::kTgi) {
    if (event.contains("token") && event["token"].is_object()) {
      OnChunk(elapsed);
      text_ += event["token"].value("text", "");
    }
    const auto details = event.find("details");
    if (details != event.end() && details->is_object()) {
      if (details->contains("generated_tokens")) {
        server_output_ = (*details)["generated_tokens"].get<uint32_t>();
      }
      if (details->contains("input_length")) {
        server_prompt_ = (*details)["input_length"].get<uint32_t>();
      }
    }
    // TGI's last event carries generated_text; earlier ones carry null.
    const auto generated = event.find("generated_text");
    if (generated != event.end() && generated->is_string()) done_ = true;
    return;
  }
  const auto choices = event.find("choices");
  if (choices != event.end() && choices->is_array() && !choices->empty()) {
    const std::string piece = (*choices)[0].value("text", "");
    OnChunk(elapsed);
    text_ += piece;
  }
  const auto usage = event.find("usage");
  if (usage != event.end() && usage->is_object()) {
    if (usage->contains("completion_tokens")) {
      server_output_ = (*usage)["completion_tokens"].get<uint32_t>();
    }
    if (usage->contains("prompt_tokens")) {
      server_prompt_ = (*usage)["prompt_tokens"].get<uint32_t>();
    }
  }
}

void StreamAccumulator::Finish(double elapsed, RequestOutcome* outcome) {
  outcome->latency = elapsed;
  outcome->ttft = ttft_ < 0 ? 0 : ttft_;
  outcome->itl = std::move(itl_);
  outcome->chunks = chunks_;
  outcome->output_tokens = chunks_;
  if (protocol_ == Protocol::kOpenAiCompletions && server_output_) {
    outcome->output_tokens = *server_output_;
  }
  outcome->generated_text = std::move(text_);
  outcome->server_output_tokens = server_output_;
  outcome->server_prompt_tokens = server_prompt_;
  if (!error_.empty()) {
    outcome->success = false;
    outcome->error = error_;
  } else if (!done_) {
    outcome->success = false;
    outcome->error = "stream ended without a final event";
  } else if (chunks_ == 0) {
    outcome->success = false;
    outcome->error = "no tokens streamed";
  } else {
    outcome->success = true;
  }
}

}  // namespace tg::bench
