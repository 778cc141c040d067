// Turns the streamed events of one request into a RequestOutcome, for the two protocols we
// drive: TGI's /generate_stream (one event per token, the last one carrying `details`) and
// OpenAI's /v1/completions with stream=true (chunks of text, `usage` when asked, then [DONE]).
// Timing follows vLLM's request functions: TTFT at the first chunk carrying output, one ITL
// sample per later chunk, latency at the end of the stream. Output tokens: TGI streams exactly
// one event per token, so they are counted; an OpenAI chunk may hold several tokens, so (as
// vLLM does) the server's usage count is used when it sends one.
#pragma once

#include <string>

#include "bench/stats.h"

namespace tg::bench {

enum class Protocol { kTgi, kOpenAiCompletions };

// Parses "tgi" / "openai"; throws tg::Error otherwise.
Protocol ParseProtocol(const std::string& name);
const char* ToString(Protocol protocol);

class StreamAccumulator {
 public:
  explicit StreamAccumulator(Protocol protocol) : protocol_(protocol) {}

  // One SSE data payload received `elapsed` seconds after the request was sent.
  void OnEvent(const std::string& data, double elapsed);
  // Ends the request at `elapsed` seconds; marks failure when no terminal event was seen.
  // `outcome` keeps the caller's prompt_len/expected_output/start fields.
  void Finish(double elapsed, RequestOutcome* outcome);
  // A transport or HTTP failure.
  void Fail(std::string message) { error_ = std::move(message); }

  bool done() const { return done_; }

 private:
  void OnChunk(double elapsed);

  Protocol protocol_;
  bool done_ = false;
  std::string error_;
  double ttft_ = -1;
  double last_ = 0;
  uint32_t chunks_ = 0;
  std::vector<double> itl_;
  std::string text_;
  std::optional<uint32_t> server_output_;
  std::optional<uint32_t> server_prompt_;
};

}  // namespace tg::bench
