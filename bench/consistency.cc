#include "bench/consistency.h"

namespace tg::bench {

std::vector<std::string> CheckConsistency(const std::vector<RequestOutcome>& outcomes,
                                          bool ignore_eos) {
  std::vector<std::string> problems;
  for (size_t i = 0; i < outcomes.size(); ++i) {
    const RequestOutcome& o = outcomes[i];
    auto report = [&](const std::string& what) {
      problems.push_back("request " + std::to_string(i) + ": " + what);
    };
    if (!o.success) {
      report("failed: " + o.error);
      continue;
    }
    if (!(o.ttft > 0) || o.ttft > o.latency) {
      report("TTFT " + std::to_string(o.ttft) + " s outside (0, latency " +
             std::to_string(o.latency) + " s]");
    }
    if (o.itl.size() + 1 != o.chunks) {
      report(std::to_string(o.itl.size()) + " ITL samples for " + std::to_string(o.chunks) +
             " chunks");
    }
    if (o.chunks > o.output_tokens) {
      report(std::to_string(o.chunks) + " chunks carried only " + std::to_string(o.output_tokens) +
             " tokens");
    }
    if (o.server_output_tokens && *o.server_output_tokens != o.output_tokens) {
      report("streamed " + std::to_string(o.output_tokens) + " tokens, server reported " +
             std::to_string(*o.server_output_tokens));
    }
    if (ignore_eos && o.output_tokens != o.expected_output) {
      report("streamed " + std::to_string(o.output_tokens) + " tokens with ignore_eos, asked for " +
             std::to_string(o.expected_output));
    }
  }
  return problems;
}

}  // namespace tg::bench
