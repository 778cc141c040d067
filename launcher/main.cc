// text-gen-launcher: from --model-id to a supervised group of shards and a router, in one command.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>
#include <unistd.h>

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

namespace tg::launcher {
namespace {

using Clock = Supervisor::Clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr std::string_view kRouterReadyMarker = "listening on http://";

std::optional<std::string> ListeningUrl(std::string_view line) {
  size_t at = line.find(kRouterReadyMarker);
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view rest =
      line.substr(at + kRouterReadyMarker.size() - std::string_view("http://").size());
  size_t end = rest.find_first_of(" \t\"");
  return std::string(rest.substr(0, end));
}

// Stops everything and returns the exit code. On request (a signal), the router drains first,
// then the shards stop. After a child died the group cannot serve anyway: everything gets
// SIGTERM at once and a short grace, so the launcher reports the failure within seconds.
int Shutdown(Supervisor& supervisor, std::vector<ChildProcess*> shards, ChildProcess* router,
             const LauncherConfig& config) {
  constexpr seconds kFailureGrace(5);
  std::vector<std::vector<ChildProcess*>> stages;
  seconds grace(config.shutdown_timeout_s);
  if (supervisor.unexpected_exit() != nullptr) {
    if (router != nullptr) shards.push_back(router);
    stages.push_back(std::move(shards));
    grace = std::min(grace, kFailureGrace);
  } else {
    if (router != nullptr) stages.push_back({router});
    stages.push_back(std::move(shards));
  }
  const bool clean = supervisor.StopInStages(stages, grace);
  if (const ChildProcess* dead = supervisor.unexpected_exit()) {
    spdlog::error("stopped because {} (pid {}) {}", dead->name(), dead->pid(),
                  DescribeWaitStatus(dead->wait_status()));
    return 1;
  }
  if (!clean) {
    spdlog::error("shutdown was not clean (a process had to be killed or exited with an error)");
    return 1;
  }
  spdlog::info("shutdown complete");
  return 0;
}

int Run(LauncherConfig& config) {
  ValidateFlags(config);
  const GpuDiscovery gpus =
      config.device == "cpu" ? GpuDiscovery{0, "skipped (--device cpu)"} : DiscoverGpus();
  if (!config.download_only) {
    // Device and token-budget conflicts fail before a long download.
    PlanServing(config, ModelLimits{}, gpus.count);
  }
  const auto shard_binary =
      config.download_only ? std::filesystem::path() : FindSiblingBinary("text-gen-shard");
  const auto router_binary =
      config.download_only ? std::filesystem::path() : FindSiblingBinary("text-gen-router");

  spdlog::info("resolving model {}", config.model_id);
  const ModelSource source = ResolveModelSource(config);
  spdlog::info("model files: {} ({})", source.weights.string(), source.description);
  if (config.download_only) {
    std::cout << source.weights.string() << std::endl;
    return 0;
  }
  const ServingPlan plan = PlanServing(config, source.limits, gpus.count);
  spdlog::info("GPUs visible: {} (via {}); running {} of {} shard(s) on {}{}", gpus.count,
               gpus.method, plan.shards.size(), plan.num_shard, ToString(plan.device),
               config.nnodes > 1 ? " (node " + std::to_string(config.node_rank) + " of " +
                                       std::to_string(config.nnodes) + ")"
                                 : "");
  spdlog::info("effective configuration: {}", DescribePlan(config, plan));

  for (const ShardPlacement& placement : plan.shards) {
    ClaimSocketPath(ShardSocketPath(config.shard_uds_path, placement.rank));
  }
  const ModelPaths paths{source.weights, source.tokenizer};
  Supervisor supervisor(config.json_output ? LogFormat::kJson : LogFormat::kText);
  StartupProgress progress(isatty(STDERR_FILENO) && !config.json_output &&
                           !config.disable_progress);
  supervisor.set_before_forward([&progress] { progress.Clear(); });
  supervisor.set_line_observer([&progress](const ChildProcess& child, std::string_view line) {
    progress.OnLine(child.name(), line);
  });
  std::vector<ChildProcess*> shards;
  std::vector<ShardHealthProbe> probes;
  for (const ShardPlacement& placement : plan.shards) {
    shards.push_back(&supervisor.Start(ShardSpec(config, plan, placement, paths, shard_binary)));
    probes.emplace_back(ShardSocketPath(config.shard_uds_path, placement.rank));
  }

  // Shards load their weights; every one must answer Health before the router may connect.
  const auto start = Clock::now();
  const auto startup_deadline = start + seconds(config.startup_timeout_s);
  std::vector<bool> healthy(probes.size(), false);
  auto next_progress = start + seconds(10);
  auto all_healthy = [&] {
    size_t ready = 0;
    for (size_t i = 0; i < probes.size(); ++i) {
      if (!healthy[i]) healthy[i] = probes[i].Check(milliseconds(500));
      ready += healthy[i];
    }
    progress.Tick();
    if (Clock::now() >= next_progress && ready < probes.size()) {
      next_progress += seconds(10);
      spdlog::info("waiting for shards: {}/{} healthy after {} s", ready, probes.size(),
                   std::chrono::duration_cast<seconds>(Clock::now() - start).count());
    }
    return ready == probes.size();
  };
  Supervisor::Wake wake = supervisor.RunUntil(all_healthy, startup_deadline);
  progress.Clear();  // the launcher's own log lines are not forwarded, so not cleared for
  if (wake == Supervisor::Wake::kDeadline) {
    for (const ShardHealthProbe& probe : probes) {
      spdlog::error("shard at {} not healthy: {}", probe.socket_path(), probe.last_error());
    }
    spdlog::error("shards did not become healthy within --startup-timeout {} s",
                  config.startup_timeout_s);
    Shutdown(supervisor, shards, nullptr, config);
    return 1;
  }
  if (wake != Supervisor::Wake::kCondition) return Shutdown(supervisor, shards, nullptr, config);
  spdlog::info("all {} shard(s) healthy after {} ms", shards.size(),
               std::chrono::duration_cast<milliseconds>(Clock::now() - start).count());
  if (!plan.runs_router) {
    // Another node's launcher: its shards are in the group; node 0 serves HTTP.
    spdlog::info("node {} is ready: ranks {}..{} of {} serve; the router runs on node 0 ({})",
                 config.node_rank, plan.shards.front().rank, plan.shards.back().rank,
                 plan.num_shard, config.master_addr);
    supervisor.RunUntil([] { return false; }, Clock::time_point::max());
    return Shutdown(supervisor, shards, nullptr, config);
  }

  // The router connects, runs Info and Warmup, and says where it listens.
  std::optional<std::string> url;
  ChildProcess* router = nullptr;
  supervisor.set_line_observer([&](const ChildProcess& child, std::string_view line) {
    progress.OnLine(child.name(), line);
    if (&child == router && !url) url = ListeningUrl(line);
  });
  router = &supervisor.Start(RouterSpec(config, plan, paths, router_binary));
  wake = supervisor.RunUntil(
      [&] {
        progress.Tick();
        return url.has_value();
      },
      startup_deadline);
  progress.Done();
  if (wake == Supervisor::Wake::kDeadline) {
    spdlog::error("the router did not report listening within --startup-timeout {} s",
                  config.startup_timeout_s);
    Shutdown(supervisor, shards, router, config);
    return 1;
  }
  if (wake != Supervisor::Wake::kCondition) return Shutdown(supervisor, shards, router, config);
  spdlog::info("text-gen is ready: {} serves {} ({} shard(s) on {}, started in {} ms)", *url,
               config.model_id, plan.num_shard, ToString(plan.device),
               std::chrono::duration_cast<milliseconds>(Clock::now() - start).count());

  supervisor.RunUntil([] { return false; }, Clock::time_point::max());
  return Shutdown(supervisor, shards, router, config);
}

}  // namespace
}  // namespace tg::launcher

int main(int argc, char** argv) {
  tg::launcher::LauncherConfig config;
  tg::FlagParser flags("text-gen-launcher",
                       "Serves a model: resolves it, starts its shards (one per GPU, or CPU "
                       "processes sharing the cores) and the HTTP router, and supervises them. "
                       "Across hosts, run one launcher per host with --nnodes, --node-rank, "
                       "--master-addr and --master-port; node 0 runs the router.");
  tg::launcher::RegisterFlags(flags, config);
  if (const std::optional<int> exit_code =
          tg::ParseProgramFlags(flags, argc, argv, "text-gen-launcher", TG_VERSION)) {
    return *exit_code;
  }
  tg::InitLogging({.component = "launcher",
                   .format = config.json_output ? tg::LogFormat::kJson : tg::LogFormat::kText});
  try {
    return tg::launcher::Run(config);
  } catch (const tg::Error& e) {
    spdlog::error("{}", e.message());
    return e.kind() == tg::ErrorKind::kInvalidArgument ? 2 : 1;
  } catch (const std::exception& e) {
    spdlog::error("internal error: {}", e.what());
    return 1;
  }
}
