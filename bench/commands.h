// The two modes of text-gen-bench. Each parses its own flags and returns the process exit code.
#pragma once

#include <string>
#include <vector>

namespace tg::bench {

// `text-gen-bench [serve] ...`: HTTP load generator.
int RunServeCommand(const std::vector<std::string>& args);
// `text-gen-bench shard ...`: Prefill/Decode sweep straight over gRPC.
int RunShardCommand(const std::vector<std::string>& args);

}  // namespace tg::bench
