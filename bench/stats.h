// Serving metrics computed exactly as vLLM's benchmarks/benchmark_serving.py computes them, so our
// figures can be compared with published ones line by line.
//
//   request throughput  = completed requests / benchmark duration
//   output throughput   = sum of output tokens / duration; total = (input + output) / duration
//   TTFT                = time from sending the request to the first streamed token
//   TPOT                = (latency - TTFT) / (output tokens - 1), only for requests with > 1 token
//   ITL                 = every gap between successive streamed chunks, pooled over all requests
//   E2EL                = end-to-end latency of each request
//   goodput             = requests meeting every given SLO / duration; a request with one output
//                         token counts TPOT as 0 for goodput (as vLLM does)
// Percentiles use linear interpolation between closest ranks (numpy.percentile's default).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tg::bench {

// What the client observed for one request. Times are in seconds.
struct RequestOutcome {
  bool success = false;
  std::string error;
  uint32_t prompt_len = 0;       // tokens in the prompt (from the workload)
  uint32_t expected_output = 0;  // max_new_tokens asked for
  uint32_t output_tokens = 0;    // TGI: token events streamed; OpenAI: usage, else chunks
  uint32_t chunks = 0;           // stream events that carried output
  std::optional<uint32_t> server_output_tokens;  // what the server reported (details/usage)
  std::optional<uint32_t> server_prompt_tokens;
  double start = 0;  // seconds since the benchmark started
  double ttft = 0;
  double latency = 0;
  std::vector<double> itl;  // gaps between successive chunks after the first
  std::string generated_text;
};

struct Summary {
  double mean = 0;
  double median = 0;
  double std = 0;  // population standard deviation (numpy.std's default)
  double p90 = 0;
  double p99 = 0;
  double max = 0;
  size_t count = 0;
};

// Linear-interpolation percentile of `values` (need not be sorted); q in [0, 100].
// Throws tg::Error on an empty input or q out of range.
double Percentile(std::vector<double> values, double q);

// Summary of `values`; all zeros when empty (vLLM reports 0 for an empty metric).
Summary Summarize(const std::vector<double>& values);

// TPOT of one request, or nullopt when it has fewer than two output tokens.
std::optional<double> TimePerOutputToken(const RequestOutcome& outcome);

// Service-level objectives in seconds; an absent one is not checked.
struct Slo {
  std::optional<double> ttft;
  std::optional<double> tpot;
  std::optional<double> e2el;
  bool empty() const { return !ttft && !tpot && !e2el; }
};

// Parses "ttft:200,tpot:50,e2el:1000" (milliseconds, vLLM's --goodput syntax with commas or
// spaces). Throws tg::Error on an unknown key or a non-positive value.
Slo ParseSlo(const std::string& text);

// True when the request met every given objective (vLLM's rule: value <= objective).
bool MeetsSlo(const RequestOutcome& outcome, const Slo& slo);

struct BenchMetrics {
  size_t completed = 0;
  size_t failed = 0;
  uint64_t total_input = 0;
  uint64_t total_output = 0;
  double duration = 0;
  double request_throughput = 0;
  double request_goodput = 0;  // 0 when no SLO is given
  size_t good_requests = 0;
  double output_throughput = 0;
  double total_token_throughput = 0;
  Summary ttft;
  Summary tpot;
  Summary itl;
  Summary e2el;
};

// `duration` is the wall time of the whole benchmark in seconds (must be > 0).
BenchMetrics ComputeMetrics(const std::vector<RequestOutcome>& outcomes, double duration,
                            const Slo& slo);

}  // namespace tg::bench
