// text-gen-router: the HTTP front door (TGI + OpenAI APIs) in front of the shards.
//
// Start-up: load the tokenizer, find the shards (ServiceDiscovery on the master socket), read
// their Info, start serving HTTP (/health answers 503), warm the shards up, size the KV block
// pool from Warmup, then attach the engine and log "listening on http://HOST:PORT".
// SIGTERM/SIGINT: stop accepting, finish in-flight requests (bounded), exit 0.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <iostream>
#include <thread>

#include "common/error.h"
#include "common/flags.h"
#include "common/logging.h"
#include "common/serving_limits.h"
#include "router/api/served_model_name.h"
#include "router/api/validation.h"
#include "router/client/sharded_client.h"
#include "router/engine/engine.h"
#include "router/engine/shard_warmup.h"
#include "router/engine/tokenizer_codec.h"
#include "router/http/server.h"
#include "router/metrics/metrics.h"
#include "router/server/app.h"

namespace {

struct RouterConfig {
  std::string hostname = "0.0.0.0";
  uint32_t port = 3000;
  std::string master_shard_uds_path = "/tmp/text-gen-server-0";
  std::string tokenizer_name;
  std::string model_id;
  std::string served_model_name;
  std::string chat_template;
  uint32_t max_concurrent_requests = tg::limits::kMaxConcurrentRequests;
  uint32_t max_best_of = tg::limits::kMaxBestOf;
  uint32_t max_stop_sequences = tg::limits::kMaxStopSequences;
  uint32_t max_top_n_tokens = tg::limits::kMaxTopNTokens;
  std::optional<uint32_t> max_input_tokens;
  std::optional<uint32_t> max_total_tokens;
  std::optional<uint32_t> max_batch_prefill_tokens;
  std::optional<uint64_t> max_batch_total_tokens;
  std::optional<uint32_t> max_batch_size;
  double waiting_served_ratio = tg::limits::kWaitingServedRatio;
  uint32_t max_waiting_tokens = tg::limits::kMaxWaitingTokens;
  bool prefix_caching = true;
  bool async_scheduling = true;
  bool chunked_prefill = true;
  std::string api_key;
  uint64_t payload_limit = tg::limits::kPayloadLimitBytes;
  std::vector<std::string> cors_allow_origin;
  bool json_output = false;
  std::string log_level = "info";
  std::optional<uint32_t> max_queue_ready;
  uint32_t http_threads = 0;
  uint32_t drain_timeout_seconds = 60;
  uint32_t shard_connect_timeout_seconds = 120;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  TG_CHECK(in.good(), kNotFound, "cannot read " + path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

int Run(int argc, char** argv) {
  RouterConfig config;
  tg::FlagParser flags("text-gen-router", "HTTP router (TGI + OpenAI APIs) in front of shards.");
  flags.Add("hostname", &config.hostname, "Address to listen on", {.env = "HOSTNAME"});
  flags.Add("port", &config.port, "HTTP port (0: any free port)", {.env = "PORT"});
  flags.Add("master-shard-uds-path", &config.master_shard_uds_path,
            "Unix socket of rank 0 (ServiceDiscovery finds the others)");
  flags.Add("tokenizer-name", &config.tokenizer_name,
            "tokenizer.json, a directory holding one, or a .gguf", {.required = true});
  flags.Add("model-id", &config.model_id, "Model shown in /info", {.env = "MODEL_ID"});
  flags.Add("served-model-name", &config.served_model_name,
            "Model name in /v1/models and responses (default: the hub id, or the model "
            "directory's name or file's stem; never a path)");
  flags.Add("chat-template", &config.chat_template, "Jinja chat template file (overrides)");
  flags.Add("max-concurrent-requests", &config.max_concurrent_requests,
            "Requests in flight before answering 429");
  flags.Add("max-best-of", &config.max_best_of, "Largest best_of / n");
  flags.Add("max-stop-sequences", &config.max_stop_sequences, "Most stop sequences");
  flags.Add("max-top-n-tokens", &config.max_top_n_tokens, "Largest top_n_tokens");
  flags.Add("max-input-tokens", &config.max_input_tokens, "Prompt token limit");
  flags.Add("max-total-tokens", &config.max_total_tokens, "Prompt + new tokens limit");
  flags.Add("max-batch-prefill-tokens", &config.max_batch_prefill_tokens,
            "Token budget of one engine step: with --chunked-prefill, running decodes plus prompt "
            "chunks (vLLM's max_num_batched_tokens); without, prompt tokens per prefill");
  flags.Add("max-batch-total-tokens", &config.max_batch_total_tokens,
            "KV tokens for all running requests (default: from the shards' Warmup)");
  flags.Add("max-batch-size", &config.max_batch_size, "Requests per batch");
  flags.Add("waiting-served-ratio", &config.waiting_served_ratio,
            "Accepted for TGI compatibility; no effect (every step admits prompt chunks)");
  flags.Add("max-waiting-tokens", &config.max_waiting_tokens,
            "Accepted for TGI compatibility; no effect (every step admits prompt chunks)");
  flags.Add("prefix-caching", &config.prefix_caching,
            "Share the KV blocks of common prompt prefixes between requests (false: off)",
            {.env = "PREFIX_CACHING"});
  flags.Add("async-scheduling", &config.async_scheduling,
            "Send each decode step while the step before it still runs, so the shard never "
            "waits for the router (false: one step at a time)",
            {.env = "ASYNC_SCHEDULING"});
  flags.Add("chunked-prefill", &config.chunked_prefill,
            "Split long prompts into chunks that share engine steps with running decodes "
            "(false: whole prompts, at most --max-batch-prefill-tokens each)",
            {.env = "CHUNKED_PREFILL"});
  flags.Add("api-key", &config.api_key, "Require Authorization: Bearer KEY", {.env = "API_KEY"});
  flags.Add("payload-limit", &config.payload_limit, "Largest request body in bytes");
  flags.Add("cors-allow-origin", &config.cors_allow_origin, "Allowed CORS origins (or *)");
  flags.Add("json-output", &config.json_output, "Log JSON lines");
  flags.Add("log-level", &config.log_level, "Log level", {.env = "LOG_LEVEL"});
  flags.Add("max-queue-ready", &config.max_queue_ready,
            "/health answers 503 while the queue holds more requests than this");
  flags.Add("http-threads", &config.http_threads, "Network threads (0: cores, at most 4)");
  flags.Add("drain-timeout", &config.drain_timeout_seconds,
            "Seconds to finish in-flight requests on SIGTERM");
  flags.Add("shard-connect-timeout", &config.shard_connect_timeout_seconds,
            "Seconds to wait for the master shard socket");
  switch (flags.Parse(argc, argv)) {
    case tg::ParseResult::kHelp:
      std::cout << flags.Help();
      return 0;
    case tg::ParseResult::kVersion:
      std::cout << "text-gen-router " << TG_VERSION << "\n";
      return 0;
    case tg::ParseResult::kRun:
      break;
  }
  tg::InitLogging({.component = "router",
                   .format = config.json_output ? tg::LogFormat::kJson : tg::LogFormat::kText,
                   .level = config.log_level});
  if (config.served_model_name.empty()) {
    config.served_model_name = tg::api::DefaultServedModelName(config.model_id);
  }

  // Signals are taken synchronously by main (sigwait), so block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  auto codec = tg::engine::TokenizerCodec::Load(config.tokenizer_name);
  auto client = tg::client::ShardedClient::Connect(
      config.master_shard_uds_path, std::chrono::seconds(config.shard_connect_timeout_seconds));
  const auto info = client->Info();
  spdlog::info("shards: {} rank(s), model_type={} dtype={} device={} block_size={}",
               client->world_size(), info.model_type(), info.dtype(), info.device_type(),
               info.block_size());
  TG_CHECK(info.mixed_batches(), kInvalidArgument,
           "the shards (" + info.backend_version() +
               ") predate mixed batches (chunk_len, cached_batches, block_grants); run shards "
               "of this release");

  const tg::engine::LimitFlags limit_flags{
      .max_input_tokens = config.max_input_tokens,
      .max_total_tokens = config.max_total_tokens,
      .max_batch_prefill_tokens = config.max_batch_prefill_tokens,
      .max_batch_total_tokens = config.max_batch_total_tokens,
      .max_batch_size = config.max_batch_size,
      .chunked_prefill = config.chunked_prefill};
  const tg::engine::ServingLimits limits = tg::engine::DeriveLimits(info, limit_flags);
  const uint32_t max_total = limits.max_total_tokens;
  const uint32_t max_input = limits.max_input_tokens;
  const uint32_t max_prefill = limits.max_batch_prefill_tokens;

  tg::metrics::Registry metrics;
  tg::metrics::DeclareRouterMetrics(metrics);
  const tg::engine::TextCodec& text = *codec;
  tg::api::Validator validator(
      {.max_input_tokens = max_input,
       .max_total_tokens = max_total,
       .max_best_of = config.max_best_of,
       .max_stop_sequences = config.max_stop_sequences,
       .max_top_n_tokens = config.max_top_n_tokens},
      [&text](const std::string& s, bool add_special) { return text.Encode(s, add_special); });
  tg::server::App app(
      {.model_id = config.model_id,
       .served_model_name = config.served_model_name,
       .api_key = config.api_key.empty() ? std::nullopt : std::optional(config.api_key),
       .cors_allow_origins = config.cors_allow_origin,
       .max_queue_ready = config.max_queue_ready,
       .chat_template =
           config.chat_template.empty() ? std::string() : ReadFile(config.chat_template)},
      *codec, validator, metrics);
  const int threads =
      config.http_threads > 0
          ? static_cast<int>(config.http_threads)
          : static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 4u));
  tg::http::Server server(
      {.host = config.hostname,
       .port = static_cast<uint16_t>(config.port),
       .threads = threads,
       .payload_limit = config.payload_limit},
      [&app](tg::http::Request request, std::shared_ptr<tg::http::Responder> responder) {
        app.Handle(std::move(request), std::move(responder));
      });
  server.Start();

  const tg::engine::KvPool pool = tg::engine::WarmUpShards(*client, info, limits, limit_flags);
  const uint32_t block_size = pool.block_size;
  const uint32_t num_blocks = pool.num_blocks;
  spdlog::info("chunked_prefill={} prefix_caching={} async_scheduling={}", config.chunked_prefill,
               config.prefix_caching, config.async_scheduling);

  app.SetInfo({{"model_id", config.model_id.empty() ? info.model_id() : config.model_id},
               {"model_sha", nullptr},
               {"model_dtype", info.dtype()},
               {"model_device_type", info.device_type()},
               {"model_pipeline_tag", "text-generation"},
               {"max_concurrent_requests", config.max_concurrent_requests},
               {"max_best_of", config.max_best_of},
               {"max_stop_sequences", config.max_stop_sequences},
               {"max_input_tokens", max_input},
               {"max_total_tokens", max_total},
               {"max_batch_prefill_tokens", max_prefill},
               {"max_batch_total_tokens", uint64_t{num_blocks} * block_size},
               {"max_batch_size", config.max_batch_size ? nlohmann::json(*config.max_batch_size)
                                                        : nlohmann::json(nullptr)},
               {"waiting_served_ratio", config.waiting_served_ratio},
               {"max_waiting_tokens", config.max_waiting_tokens},
               {"prefix_caching", config.prefix_caching},
               {"chunked_prefill", config.chunked_prefill},
               {"async_scheduling", config.async_scheduling},
               {"validation_workers", 1},
               {"max_client_batch_size", 1},
               {"block_size", block_size},
               {"world_size", client->world_size()},
               {"router", "text-gen-router"},
               {"version", TG_VERSION},
               {"sha", nullptr},
               {"docker_label", nullptr}});

  tg::engine::Engine engine({.scheduler = {.block_size = block_size,
                                           .num_blocks = num_blocks,
                                           .token_budget = max_prefill,
                                           .max_batch_size = config.max_batch_size.value_or(0),
                                           .prefix_caching = config.prefix_caching,
                                           .chunked_prefill = config.chunked_prefill},
                             .max_concurrent_requests = config.max_concurrent_requests,
                             .async_scheduling = config.async_scheduling},
                            *client, *codec, metrics);
  app.AttachEngine(&engine);
  spdlog::info("listening on http://{}:{}", config.hostname, server.bound_port());

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  spdlog::info("signal {}: draining", signal_number);
  app.StartDraining();
  server.StopAccepting();
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(config.drain_timeout_seconds);
  while (engine.in_flight() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (engine.in_flight() > 0) {
    spdlog::warn("drain timeout: {} request(s) still in flight", engine.in_flight());
  }
  engine.Stop();
  // Give the network threads a moment to flush the last responses.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  app.AttachEngine(nullptr);
  server.Stop();
  spdlog::info("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const tg::Error& e) {
    spdlog::critical("{}", e.what());
    return 1;
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }
}
