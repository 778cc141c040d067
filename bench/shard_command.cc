#include <fstream>
#include <iostream>

#include "bench/commands.h"
#include "bench/shard_sweep.h"
#include "common/error.h"
#include "common/flags.h"

namespace tg::bench {
namespace {

std::vector<uint32_t> ParseList(const std::vector<std::string>& items, const char* what) {
  std::vector<uint32_t> values;
  for (const std::string& item : items) {
    try {
      size_t used = 0;
      const unsigned long value = std::stoul(item, &used);
      TG_CHECK(used == item.size() && value > 0, kInvalidArgument, "bad value");
      values.push_back(static_cast<uint32_t>(value));
    } catch (const std::logic_error&) {
      throw Error(ErrorKind::kInvalidArgument, std::string("bad ") + what + " '" + item + "'");
    }
  }
  return values;
}

}  // namespace

int RunShardCommand(const std::vector<std::string>& args) {
  ShardSweepOptions options;
  std::vector<std::string> batch_sizes = {"1", "2", "4", "8"};
  std::vector<std::string> lengths = {"32", "128"};
  std::string result_json;
  FlagParser flags("text-gen-bench shard",
                   "Prefill/Decode latency per batch size and sequence length, straight over "
                   "gRPC to one shard (no router).");
  flags.Add("uds", &options.target, "gRPC target of rank 0 (unix:///path or host:port)");
  flags.Add("batch-sizes", &batch_sizes, "Comma-separated batch sizes");
  flags.Add("sequence-lengths", &lengths, "Comma-separated prompt lengths");
  flags.Add("decode-length", &options.decode_length, "Decode steps per case");
  flags.Add("runs", &options.runs, "Measured repetitions per case");
  flags.Add("warmups", &options.warmups, "Unmeasured repetitions per case");
  flags.Add("skip-warmup-rpc", &options.skip_warmup_rpc, "Do not call Warmup (already done)");
  flags.Add("seed", &options.seed, "Seed of the random prompts");
  flags.Add("result-json", &result_json, "Write results here", {.value_name = "FILE"});
  if (flags.Parse(args) == ParseResult::kHelp) {
    std::cout << flags.Help();
    return 0;
  }
  options.batch_sizes = ParseList(batch_sizes, "batch size");
  options.sequence_lengths = ParseList(lengths, "sequence length");
  const ShardSweepResult result = RunShardSweep(options);
  std::cout << FormatShardTable(result) << std::flush;
  if (!result_json.empty()) {
    std::ofstream file(result_json);
    TG_CHECK(file.good(), kNotFound, "cannot write " + result_json);
    file << ToJson(result).dump(2) << "\n";
  }
  return 0;
}

}  // namespace tg::bench
