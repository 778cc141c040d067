#include "bench/report.h"

#include <cmath>
#include <cstdio>
#include <limits>

namespace tg::bench {
namespace {

std::string Line(const char* name, double value, const char* format = "%.2f") {
  char number[64];
  std::snprintf(number, sizeof number, format, value);
  char line[160];
  std::snprintf(line, sizeof line, "%-40s %12s\n", name, number);
  return line;
}

std::string Section(const char* title, const char* key, const Summary& s) {
  std::string out = "---------------" + std::string(title) + "---------------\n";
  auto ms = [](double seconds) { return seconds * 1000.0; };
  out += Line(("Mean " + std::string(key) + " (ms):").c_str(), ms(s.mean));
  out += Line(("Median " + std::string(key) + " (ms):").c_str(), ms(s.median));
  out += Line(("P90 " + std::string(key) + " (ms):").c_str(), ms(s.p90));
  out += Line(("P99 " + std::string(key) + " (ms):").c_str(), ms(s.p99));
  return out;
}

void AddSummary(nlohmann::json* out, const std::string& key, const Summary& s) {
  (*out)["mean_" + key + "_ms"] = s.mean * 1000;
  (*out)["median_" + key + "_ms"] = s.median * 1000;
  (*out)["std_" + key + "_ms"] = s.std * 1000;
  (*out)["p90_" + key + "_ms"] = s.p90 * 1000;
  (*out)["p99_" + key + "_ms"] = s.p99 * 1000;
  (*out)["max_" + key + "_ms"] = s.max * 1000;
}

}  // namespace

std::string FormatTable(const RunDescription& run, const BenchMetrics& m) {
  std::string out = "============ Serving Benchmark Result ============\n";
  char header[200];
  std::snprintf(header, sizeof header, "%-40s %12s\n", "Scenario:", run.label.c_str());
  out += header;
  out += Line("Request rate (req/s, 0 = all at once):", run.request_rate);
  out += Line("Successful requests:", static_cast<double>(m.completed), "%.0f");
  out += Line("Failed requests:", static_cast<double>(m.failed), "%.0f");
  out += Line("Benchmark duration (s):", m.duration);
  out += Line("Total input tokens:", static_cast<double>(m.total_input), "%.0f");
  out += Line("Total generated tokens:", static_cast<double>(m.total_output), "%.0f");
  out += Line("Request throughput (req/s):", m.request_throughput);
  if (!run.slo.empty()) out += Line("Request goodput (req/s):", m.request_goodput);
  out += Line("Output token throughput (tok/s):", m.output_throughput);
  out += Line("Total Token throughput (tok/s):", m.total_token_throughput);
  out += Section("Time to First Token", "TTFT", m.ttft);
  out += Section("Time per Output Token (excl. 1st token)", "TPOT", m.tpot);
  out += Section("Inter-token Latency", "ITL", m.itl);
  out += Section("End-to-end Latency", "E2EL", m.e2el);
  out += "==================================================\n";
  return out;
}

nlohmann::json ToJson(const RunDescription& run, const BenchMetrics& m, const RunResult& result) {
  nlohmann::json out;
  out["label"] = run.label;
  out["backend"] = run.backend;
  out["workload"] = run.workload;
  // JSON has no infinity; vLLM writes "inf" for all-at-once runs.
  out["request_rate"] = run.request_rate > 0 ? nlohmann::json(run.request_rate) : "inf";
  out["burstiness"] = run.burstiness;
  out["max_concurrency"] = run.max_concurrency;
  out["goodput_slo"] = run.slo;
  out["duration"] = m.duration;
  out["completed"] = m.completed;
  out["failed"] = m.failed;
  out["total_input_tokens"] = m.total_input;
  out["total_output_tokens"] = m.total_output;
  out["request_throughput"] = m.request_throughput;
  out["request_goodput"] =
      run.slo.empty() ? nlohmann::json(nullptr) : nlohmann::json(m.request_goodput);
  out["output_throughput"] = m.output_throughput;
  out["total_token_throughput"] = m.total_token_throughput;
  AddSummary(&out, "ttft", m.ttft);
  AddSummary(&out, "tpot", m.tpot);
  AddSummary(&out, "itl", m.itl);
  AddSummary(&out, "e2el", m.e2el);
  nlohmann::json input_lens = nlohmann::json::array(), output_lens = nlohmann::json::array(),
                 ttfts = nlohmann::json::array(), latencies = nlohmann::json::array(),
                 starts = nlohmann::json::array(), errors = nlohmann::json::array(),
                 texts = nlohmann::json::array(), server_prompt = nlohmann::json::array(),
                 server_output = nlohmann::json::array();
  for (const RequestOutcome& o : result.outcomes) {
    input_lens.push_back(o.prompt_len);
    output_lens.push_back(o.output_tokens);
    ttfts.push_back(o.ttft);
    latencies.push_back(o.latency);
    starts.push_back(o.start);
    errors.push_back(o.error);
    texts.push_back(o.generated_text);
    server_prompt.push_back(o.server_prompt_tokens ? nlohmann::json(*o.server_prompt_tokens)
                                                   : nlohmann::json(nullptr));
    server_output.push_back(o.server_output_tokens ? nlohmann::json(*o.server_output_tokens)
                                                   : nlohmann::json(nullptr));
  }
  out["input_lens"] = input_lens;
  out["output_lens"] = output_lens;
  out["ttfts"] = ttfts;
  out["latencies"] = latencies;
  out["start_times"] = starts;
  out["errors"] = errors;
  out["generated_texts"] = texts;
  out["server_prompt_lens"] = server_prompt;
  out["server_output_lens"] = server_output;
  return out;
}

}  // namespace tg::bench
