// Human table and JSON document for one load-generator run. The JSON field names follow vLLM's
// benchmark_serving.py result file (request_throughput, mean_ttft_ms, p99_itl_ms, ...) so tools
// written for it read ours; per-request arrays make the latency CDFs in plot.py possible.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "bench/load_runner.h"
#include "bench/stats.h"

namespace tg::bench {

struct RunDescription {
  std::string label;        // scenario name
  std::string backend;      // "text-gen", "tgi", "vllm" ...
  std::string workload;     // "random", "sharegpt", "prefix"
  double request_rate = 0;  // 0: all at once
  double burstiness = 1;
  size_t max_concurrency = 0;
  std::string slo;  // as given to --goodput
};

std::string FormatTable(const RunDescription& run, const BenchMetrics& metrics);

nlohmann::json ToJson(const RunDescription& run, const BenchMetrics& metrics,
                      const RunResult& result);

}  // namespace tg::bench
