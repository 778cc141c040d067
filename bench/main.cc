// text-gen-bench: serving load generator (default) and shard-level latency sweep (`shard`).
#include <iostream>
#include <string>
#include <vector>

#include "bench/commands.h"
#include "common/error.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string mode = "serve";
  if (!args.empty() && (args[0] == "serve" || args[0] == "shard")) {
    mode = args[0];
    args.erase(args.begin());
  }
  try {
    return mode == "shard" ? tg::bench::RunShardCommand(args) : tg::bench::RunServeCommand(args);
  } catch (const tg::Error& e) {
    std::cerr << "text-gen-bench: " << tg::ToString(e.kind()) << ": " << e.message() << "\n";
  } catch (const std::exception& e) {
    std::cerr << "text-gen-bench: " << e.what() << "\n";
  }
  return 1;
}
