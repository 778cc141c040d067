// Sends a workload to an HTTP server on a schedule and records what each streamed response
// looked like. One thread drives every connection (Boost.Asio), so thousands of concurrent
// requests cost sockets, not threads, and client overhead stays out of the latencies.
#pragma once

#include <string>
#include <vector>

#include "bench/stats.h"
#include "bench/stream_events.h"
#include "bench/workload.h"

namespace tg::bench {

struct TargetOptions {
  std::string base_url = "http://127.0.0.1:3000";  // http:// only
  Protocol protocol = Protocol::kTgi;
  std::string endpoint;  // default: /generate_stream (tgi) or /v1/completions (openai)
  std::string model;     // OpenAI "model" field
  std::string api_key;   // sent as "Authorization: Bearer ..." when set
  bool ignore_eos = true;
  double request_timeout = 600;  // seconds per request
};

struct RunOptions {
  TargetOptions target;
  size_t max_concurrency = 0;  // 0: unlimited
};

struct RunResult {
  std::vector<RequestOutcome> outcomes;  // in workload order
  double duration = 0;                   // seconds from the first send to the last completion
};

// The JSON body of one request in the target's protocol.
std::string BuildRequestBody(const TargetOptions& target, const WorkloadRequest& request);

// Sends request i at offsets[i] seconds after the start (waiting for a free slot when
// max_concurrency is reached; latency is measured from the actual send, as vLLM does).
RunResult RunLoad(const std::vector<WorkloadRequest>& requests, const std::vector<double>& offsets,
                  const RunOptions& options);

}  // namespace tg::bench
