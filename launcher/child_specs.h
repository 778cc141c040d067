// The command lines and environments of the shard and router processes, per the process contract
// (flags of text-gen-shard and text-gen-router). Pure functions, so pinning and flag forwarding
// are unit-tested without starting anything.
#pragma once

#include <filesystem>
#include <string>

#include "launcher/config.h"
#include "launcher/process.h"

namespace tg::launcher {

// Shard r serves on "<prefix>-<r>".
std::string ShardSocketPath(const std::string& prefix, uint32_t rank);

struct ModelPaths {
  std::filesystem::path weights;
  std::filesystem::path tokenizer;
};

ProcessSpec ShardSpec(const LauncherConfig& config, const ServingPlan& plan,
                      const ShardPlacement& shard, const ModelPaths& model,
                      const std::filesystem::path& executable);

ProcessSpec RouterSpec(const LauncherConfig& config, const ServingPlan& plan,
                       const ModelPaths& model, const std::filesystem::path& executable);

}  // namespace tg::launcher
