// text-gen-batch: offline batch inference, the equivalent of vLLM's LLM.generate. It takes the
// launcher's model and device flags, starts the shards itself (no HTTP server), runs the router's
// engine in-process on a JSONL file of prompts or chats, and writes one JSON record per line in
// input order. A rerun with the same --output resumes after the records already written.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <iostream>
#include <optional>
#include <thread>

#include "batch/batch_input.h"
#include "batch/batch_runner.h"
#include "batch/ordered_output.h"
#include "batch/progress.h"
#include "common/error.h"
#include "common/flags.h"
#include "common/logging.h"
#include "launcher/binaries.h"
#include "launcher/child_specs.h"
#include "launcher/config.h"
#include "launcher/devices.h"
#include "launcher/model_source.h"
#include "launcher/shard_health.h"
#include "launcher/socket_path.h"
#include "launcher/startup_progress.h"
#include "launcher/supervisor.h"
#include "router/api/validation.h"
#include "router/chat/chat_template.h"
#include "router/client/sharded_client.h"
#include "router/engine/engine.h"
#include "router/engine/shard_warmup.h"
#include "router/engine/tokenizer_codec.h"
#include "router/metrics/metrics.h"

namespace tg::batch {
namespace {

using launcher::Supervisor;
using std::chrono::milliseconds;
using std::chrono::seconds;

struct BatchFlags {
  std::string input;
  std::string output;
  std::string progress = "auto";
};

// Every line of the input, without the newline; a final newline does not start a line.
std::vector<std::string> ReadLines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  TG_CHECK(in.good(), kInvalidArgument, "cannot read --input " + path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
  }
  return lines;
}

std::unique_ptr<chat::ChatTemplate> LoadChatTemplate(const launcher::LauncherConfig& config,
                                                     const engine::TextCodec& codec) {
  std::string source = codec.chat_template();
  if (config.chat_template) {
    std::ifstream in(*config.chat_template, std::ios::binary);
    TG_CHECK(in.good(), kInvalidArgument, "cannot read --chat-template " + *config.chat_template);
    source.assign(std::istreambuf_iterator<char>(in), {});
  }
  if (source.empty()) return nullptr;
  try {
    return std::make_unique<chat::ChatTemplate>(source);
  } catch (const Error& e) {
    spdlog::warn("the chat template does not parse ({}); `messages` lines will fail", e.message());
    return nullptr;
  }
}

// Starts the shards and waits until each answers Health. False when interrupted or failed.
bool StartShards(Supervisor& supervisor, const launcher::LauncherConfig& config,
                 const launcher::ServingPlan& plan, const launcher::ModelSource& source,
                 std::vector<launcher::ChildProcess*>& shards) {
  const auto shard_binary = launcher::FindSiblingBinary("text-gen-shard");
  std::vector<launcher::ShardHealthProbe> probes;
  for (const launcher::ShardPlacement& placement : plan.shards) {
    const std::string socket = launcher::ShardSocketPath(config.shard_uds_path, placement.rank);
    launcher::ClaimSocketPath(socket);
    shards.push_back(&supervisor.Start(launcher::ShardSpec(
        config, plan, placement, {source.weights, source.tokenizer}, shard_binary)));
    probes.emplace_back(socket);
  }
  // The launcher's weight-loading bar, on a terminal.
  launcher::StartupProgress progress(isatty(STDERR_FILENO) && !config.json_output &&
                                     !config.disable_progress);
  supervisor.set_before_forward([&progress] { progress.Clear(); });
  supervisor.set_line_observer(
      [&progress](const launcher::ChildProcess& child, std::string_view line) {
        progress.OnLine(child.name(), line);
      });
  std::vector<bool> healthy(probes.size(), false);
  const auto start = Supervisor::Clock::now();
  const auto wake = supervisor.RunUntil(
      [&] {
        size_t ready = 0;
        for (size_t i = 0; i < probes.size(); ++i) {
          if (!healthy[i]) healthy[i] = probes[i].Check(milliseconds(500));
          ready += healthy[i];
        }
        progress.Tick();
        return ready == probes.size();
      },
      start + seconds(config.startup_timeout_s));
  progress.Done();
  supervisor.set_before_forward(nullptr);
  supervisor.set_line_observer(nullptr);
  if (wake == Supervisor::Wake::kDeadline) {
    for (const auto& probe : probes) {
      spdlog::error("shard at {} not healthy: {}", probe.socket_path(), probe.last_error());
    }
  }
  if (wake != Supervisor::Wake::kCondition) return false;
  spdlog::info("{} shard(s) healthy after {} ms", shards.size(),
               std::chrono::duration_cast<milliseconds>(Supervisor::Clock::now() - start).count());
  return true;
}

int Stop(Supervisor& supervisor, const std::vector<launcher::ChildProcess*>& shards,
         const launcher::LauncherConfig& config, int code) {
  const bool clean = supervisor.StopInStages({shards}, seconds(config.shutdown_timeout_s));
  if (const auto* dead = supervisor.unexpected_exit()) {
    spdlog::error("{} (pid {}) {}", dead->name(), dead->pid(),
                  launcher::DescribeWaitStatus(dead->wait_status()));
    return 1;
  }
  if (code == 0 && !clean) return 1;
  return code;
}

int Run(launcher::LauncherConfig& config, const BatchFlags& flags) {
  const ProgressStyle style = ParseProgressStyle(flags.progress);
  TG_CHECK(!flags.output.empty() && flags.output != flags.input, kInvalidArgument,
           "--output must name a file other than --input");
  const std::vector<std::string> lines = ReadLines(flags.input);
  OrderedOutput output(flags.output);
  TG_CHECK(output.resumed() <= lines.size(), kInvalidArgument,
           flags.output + " has more records than --input has lines");
  if (output.resumed() > 0) {
    spdlog::info("resuming: {} of {} line(s) already in {}", output.resumed(), lines.size(),
                 flags.output);
  }
  if (output.resumed() == lines.size()) {
    spdlog::info("nothing to do: every line of {} has a record", flags.input);
    return 0;
  }

  launcher::ValidateFlags(config);
  const launcher::GpuDiscovery gpus = config.device == "cpu"
                                          ? launcher::GpuDiscovery{0, "skipped (--device cpu)"}
                                          : launcher::DiscoverGpus();
  launcher::PlanServing(config, launcher::ModelLimits{}, gpus.count);
  const launcher::ModelSource source = launcher::ResolveModelSource(config);
  const launcher::ServingPlan plan = launcher::PlanServing(config, source.limits, gpus.count);
  spdlog::info("model {}: {} shard(s) on {}", source.weights.string(), plan.num_shard,
               launcher::ToString(plan.device));

  // Signals go to the supervisor's signalfd: it must exist before any thread does.
  Supervisor supervisor(config.json_output ? LogFormat::kJson : LogFormat::kText);
  std::vector<launcher::ChildProcess*> shards;
  if (!StartShards(supervisor, config, plan, source, shards)) {
    return Stop(supervisor, shards, config, supervisor.shutdown_signal() ? 130 : 1);
  }

  auto codec = engine::TokenizerCodec::Load(source.tokenizer);
  auto client = client::ShardedClient::Connect(launcher::ShardSocketPath(config.shard_uds_path, 0),
                                               seconds(config.startup_timeout_s));
  const auto info = client->Info();
  const engine::LimitFlags limit_flags{.max_input_tokens = plan.max_input_tokens,
                                       .max_total_tokens = plan.max_total_tokens,
                                       .max_batch_prefill_tokens = plan.max_batch_prefill_tokens,
                                       .max_batch_total_tokens = plan.max_batch_total_tokens,
                                       .max_batch_size = plan.max_batch_size,
                                       .chunked_prefill = config.chunked_prefill};
  const engine::ServingLimits limits = engine::DeriveLimits(info, limit_flags);
  const engine::KvPool pool = engine::WarmUpShards(*client, info, limits, limit_flags);

  const engine::TextCodec& text = *codec;
  api::Validator validator(
      {.max_input_tokens = limits.max_input_tokens,
       .max_total_tokens = limits.max_total_tokens,
       .max_best_of = config.max_best_of,
       .max_stop_sequences = config.max_stop_sequences,
       .max_top_n_tokens = config.max_top_n_tokens},
      [&text](const std::string& s, bool add_special) { return text.Encode(s, add_special); });
  const auto chat = LoadChatTemplate(config, *codec);
  LineParser parser(validator, chat.get(), codec->bos_token(), codec->eos_token());
  metrics::Registry metrics;
  metrics::DeclareRouterMetrics(metrics);
  engine::Engine engine({.scheduler = {.block_size = pool.block_size,
                                       .num_blocks = pool.num_blocks,
                                       .token_budget = limits.max_batch_prefill_tokens,
                                       .max_batch_size = config.max_batch_size.value_or(0),
                                       .prefix_caching = config.prefix_caching,
                                       .chunked_prefill = config.chunked_prefill},
                         // The engine calls a request's last callback before it releases the
                         // permit, so the runner's window may briefly overlap the next step's.
                         .max_concurrent_requests = 2 * config.max_concurrent_requests},
                        *client, *codec, metrics);

  ProgressReporter progress(style);
  BatchRunner runner(engine, parser, output, progress, config.max_concurrent_requests);
  std::atomic<bool> finished{false};
  bool complete = false;
  std::string failure;
  std::thread worker([&] {
    try {
      complete = runner.Run(lines);
    } catch (const std::exception& e) {
      failure = e.what();
    }
    finished.store(true);
  });
  const auto wake = supervisor.RunUntil([&] { return finished.load(); },
                                        Supervisor::Clock::time_point::max(), milliseconds(50));
  if (wake != Supervisor::Wake::kCondition) {
    // Interrupted or a shard died: keep the file's valid prefix, write nothing half-done.
    output.Close();
    runner.Stop();
  }
  worker.join();
  output.Close();
  engine.Stop();
  if (!failure.empty()) spdlog::error("{}", failure);
  if (!complete || !runner.failure().empty()) {
    if (!runner.failure().empty()) spdlog::error("{}", runner.failure());
    spdlog::warn("stopped with {} of {} line(s) in {}; run again to resume", output.written(),
                 lines.size(), flags.output);
    return Stop(supervisor, shards, config, supervisor.shutdown_signal() ? 130 : 1);
  }
  spdlog::info("wrote {} record(s) to {}", output.written(), flags.output);
  return Stop(supervisor, shards, config, 0);
}

}  // namespace
}  // namespace tg::batch

int main(int argc, char** argv) {
  tg::launcher::LauncherConfig config;
  // A private socket prefix by default: a server may be running with the launcher's.
  config.shard_uds_path = "/tmp/text-gen-batch-" + std::to_string(getpid());
  tg::batch::BatchFlags batch;
  tg::FlagParser flags(
      "text-gen-batch",
      "Offline batch inference: runs every line of a JSONL file through the model and writes "
      "one JSON record per line, in input order (no HTTP server). An input line is "
      "{\"prompt\": TEXT} or {\"messages\": [...]} with optional \"parameters\" (TGI's) and "
      "\"id\". Takes the launcher's model and device flags; --max-concurrent-requests is the "
      "number of lines queued in the engine at once. HTTP flags are accepted and ignored.");
  flags.Add("input", &batch.input, "JSONL file of prompts or chats", {.required = true});
  flags.Add("output", &batch.output, "JSONL file of records; a rerun resumes after its records",
            {.required = true});
  flags.Add("progress", &batch.progress,
            "auto (a bar on a terminal, else JSON lines), bar, json or none");
  tg::launcher::RegisterFlags(flags, config);
  if (const std::optional<int> exit_code =
          tg::ParseProgramFlags(flags, argc, argv, "text-gen-batch", TG_VERSION)) {
    return *exit_code;
  }
  tg::InitLogging({.component = "batch",
                   .format = config.json_output ? tg::LogFormat::kJson : tg::LogFormat::kText});
  try {
    return tg::batch::Run(config, batch);
  } catch (const tg::Error& e) {
    spdlog::error("{}", e.message());
    return e.kind() == tg::ErrorKind::kInvalidArgument ? 2 : 1;
  } catch (const std::exception& e) {
    spdlog::error("internal error: {}", e.what());
    return 1;
  }
}
