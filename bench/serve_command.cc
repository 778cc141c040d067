#include <cmath>
#include <fstream>
#include <iostream>
#include <limits>

#include "bench/arrival.h"
#include "bench/commands.h"
#include "bench/consistency.h"
#include "bench/load_runner.h"
#include "bench/report.h"
#include "bench/stats.h"
#include "bench/workload.h"
#include "common/error.h"
#include "common/flags.h"

namespace tg::bench {
namespace {

struct ServeConfig {
  std::string base_url = "http://127.0.0.1:3000";
  std::string protocol = "tgi";
  std::string endpoint;
  std::string model;
  std::string api_key;
  std::string tokenizer;
  std::string workload = "random";
  uint64_t num_prompts = 100;
  uint32_t input_len = 128;
  uint32_t output_len = 128;
  uint32_t prefix_len = 256;
  uint32_t num_prefixes = 4;
  double length_scale = 1.0;
  std::vector<std::string> request_rates = {"inf"};
  double burstiness = 1.0;
  uint64_t max_concurrency = 0;
  std::string goodput;
  uint64_t seed = 0;
  std::string label;
  std::string backend = "text-gen";
  std::string result_json;
  std::string save_workload;
  bool workload_only = false;
  bool no_ignore_eos = false;
  bool check = false;
  double request_timeout = 600;
};

double ParseRate(const std::string& text) {
  if (text == "inf") return 0;
  double rate = 0;
  try {
    rate = std::stod(text);
  } catch (const std::logic_error&) {
    throw Error(ErrorKind::kInvalidArgument, "bad request rate '" + text + "'");
  }
  TG_CHECK(rate > 0, kInvalidArgument, "request rates must be positive or 'inf'");
  return rate;
}

nlohmann::json WorkloadJson(const std::vector<WorkloadRequest>& requests,
                            const ServeConfig& config) {
  nlohmann::json out;
  out["workload"] = config.workload;
  out["tokenizer"] = config.tokenizer;
  out["seed"] = config.seed;
  out["requests"] = nlohmann::json::array();
  for (const auto& r : requests) {
    out["requests"].push_back(
        {{"prompt", r.prompt}, {"prompt_len", r.prompt_len}, {"output_len", r.output_len}});
  }
  return out;
}

void WriteJson(const std::string& path, const nlohmann::json& value) {
  std::ofstream file(path);
  TG_CHECK(file.good(), kNotFound, "cannot write " + path);
  file << value.dump(2) << "\n";
}

}  // namespace

int RunServeCommand(const std::vector<std::string>& args) {
  ServeConfig c;
  FlagParser flags("text-gen-bench",
                   "Serving load generator: sends a workload to a TGI- or OpenAI-compatible "
                   "server and reports throughput, TTFT, TPOT, ITL, E2EL and goodput as vLLM's "
                   "benchmark_serving.py does. `text-gen-bench shard --help` for the shard sweep.");
  flags.Add("base-url", &c.base_url, "Server URL (http://host:port)");
  flags.Add("protocol", &c.protocol, "tgi (/generate_stream) or openai (/v1/completions)");
  flags.Add("endpoint", &c.endpoint, "Override the request path");
  flags.Add("model", &c.model, "OpenAI model name");
  flags.Add("api-key", &c.api_key, "Bearer token", {.env = "API_KEY"});
  flags.Add("tokenizer", &c.tokenizer, "tokenizer.json, a directory holding one, or a .gguf",
            {.required = true, .value_name = "PATH"});
  flags.Add("workload", &c.workload, "random, sharegpt or prefix");
  flags.Add("num-prompts", &c.num_prompts, "Requests per run");
  flags.Add("input-len", &c.input_len, "random: prompt tokens; prefix: suffix tokens");
  flags.Add("output-len", &c.output_len, "random/prefix: max_new_tokens (ignore_eos)");
  flags.Add("prefix-len", &c.prefix_len, "prefix: shared prefix tokens");
  flags.Add("num-prefixes", &c.num_prefixes, "prefix: number of prefix groups");
  flags.Add("length-scale", &c.length_scale, "sharegpt: multiply sampled lengths (scale down)");
  flags.Add("request-rate", &c.request_rates,
            "Requests/s, 'inf' = all at once; a list runs one benchmark per rate");
  flags.Add("burstiness", &c.burstiness, "Gamma shape of the arrival gaps (1 = Poisson)");
  flags.Add("max-concurrency", &c.max_concurrency, "Requests in flight at most (0 = no limit)");
  flags.Add("goodput", &c.goodput, "SLOs in ms, e.g. ttft:500,tpot:50,e2el:5000");
  flags.Add("seed", &c.seed, "Seed of the workload and the arrival process");
  flags.Add("label", &c.label, "Scenario name in the report");
  flags.Add("backend", &c.backend, "Name of the server under test, for the report");
  flags.Add("result-json", &c.result_json, "Write results here", {.value_name = "FILE"});
  flags.Add("save-workload", &c.save_workload, "Write the workload (prompts, lengths) here",
            {.value_name = "FILE"});
  flags.Add("workload-only", &c.workload_only, "Only build and save the workload");
  flags.Add("no-ignore-eos", &c.no_ignore_eos, "Do not send ignore_eos (servers without it)");
  flags.Add("check", &c.check, "Fail unless every run passes the consistency checks");
  flags.Add("request-timeout", &c.request_timeout, "Seconds per request");
  if (flags.Parse(args) == ParseResult::kHelp) {
    std::cout << flags.Help();
    return 0;
  }

  WorkloadOptions workload;
  workload.kind = ParseWorkloadKind(c.workload);
  workload.num_requests = c.num_prompts;
  workload.input_len = c.input_len;
  workload.output_len = c.output_len;
  workload.prefix_len = c.prefix_len;
  workload.num_prefixes = c.num_prefixes;
  workload.length_scale = c.length_scale;
  workload.seed = c.seed;
  const auto codec = LoadTextCodec(c.tokenizer);
  const std::vector<WorkloadRequest> requests = BuildWorkload(*codec, workload);
  if (!c.save_workload.empty()) WriteJson(c.save_workload, WorkloadJson(requests, c));
  if (c.workload_only) return 0;

  RunOptions run_options;
  run_options.target.base_url = c.base_url;
  run_options.target.protocol = ParseProtocol(c.protocol);
  run_options.target.endpoint = c.endpoint;
  run_options.target.model = c.model;
  run_options.target.api_key = c.api_key;
  run_options.target.ignore_eos = !c.no_ignore_eos;
  run_options.target.request_timeout = c.request_timeout;
  run_options.max_concurrency = c.max_concurrency;
  const Slo slo = ParseSlo(c.goodput);

  nlohmann::json document;
  document["backend"] = c.backend;
  document["base_url"] = c.base_url;
  document["protocol"] = c.protocol;
  document["workload"] = {{"kind", c.workload},
                          {"num_prompts", c.num_prompts},
                          {"input_len", c.input_len},
                          {"output_len", c.output_len},
                          {"prefix_len", c.prefix_len},
                          {"num_prefixes", c.num_prefixes},
                          {"length_scale", c.length_scale},
                          {"seed", c.seed}};
  document["runs"] = nlohmann::json::array();
  bool consistent = true;
  for (const std::string& rate_text : c.request_rates) {
    ArrivalOptions arrival{
        .request_rate = ParseRate(rate_text), .burstiness = c.burstiness, .seed = c.seed};
    const auto offsets = ArrivalOffsets(requests.size(), arrival);
    const RunResult result = RunLoad(requests, offsets, run_options);
    const BenchMetrics metrics = ComputeMetrics(result.outcomes, result.duration, slo);
    RunDescription description{.label = c.label.empty() ? c.workload : c.label,
                               .backend = c.backend,
                               .workload = c.workload,
                               .request_rate = arrival.request_rate,
                               .burstiness = c.burstiness,
                               .max_concurrency = c.max_concurrency,
                               .slo = c.goodput};
    std::cout << FormatTable(description, metrics) << std::flush;
    nlohmann::json run = ToJson(description, metrics, result);
    const auto problems = CheckConsistency(result.outcomes, run_options.target.ignore_eos);
    run["consistency_problems"] = problems;
    for (size_t i = 0; i < problems.size() && i < 10; ++i) {
      std::cerr << "consistency: " << problems[i] << "\n";
    }
    if (!problems.empty()) consistent = false;
    document["runs"].push_back(std::move(run));
  }
  if (!c.result_json.empty()) WriteJson(c.result_json, document);
  if (c.check && !consistent) {
    std::cerr << "text-gen-bench: consistency checks failed\n";
    return 2;
  }
  return 0;
}

}  // namespace tg::bench
