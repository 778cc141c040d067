// One rank of the TCP bootstrap as a process, for bootstrap_test:
//   bootstrap_probe serve --world-size N --port P --timeout-ms T --seed S
//     prints "port <bound port>", serves a blob derived from S, prints "served", exits 0
//   bootstrap_probe fetch --world-size N --rank R --port P --timeout-ms T [--master-addr A]
//     prints "id <hex of the 128 bytes>" and exits 0
// Errors go to stderr as "error: <message>"; the exit code says which kind: 2 invalid argument
// (a mismatch rank 0 refused), 3 unavailable (timeouts), 1 anything else.
#include <cstdio>
#include <iostream>
#include <string>

#include "common/error.h"
#include "common/flags.h"
#include "common/logging.h"
#include "shard/parallel/bootstrap.h"

namespace {

tg::parallel::UniqueIdBlob BlobFromSeed(int seed) {
  tg::parallel::UniqueIdBlob blob;
  for (size_t i = 0; i < blob.size(); ++i) blob[i] = static_cast<uint8_t>(seed * 31 + i * 7);
  return blob;
}

std::string Hex(const tg::parallel::UniqueIdBlob& blob) {
  std::string out;
  char byte[3];
  for (uint8_t b : blob) {
    std::snprintf(byte, sizeof(byte), "%02x", b);
    out += byte;
  }
  return out;
}

int Run(int argc, char** argv) {
  std::string master_addr = "127.0.0.1";
  int port = 0, world = 1, rank = 0, timeout_ms = 5000, seed = 0;
  tg::FlagParser flags("bootstrap_probe", "One rank of the TCP bootstrap (tests).");
  flags.Add("master-addr", &master_addr, "rank 0 address");
  flags.Add("port", &port, "rank 0 port (serve: 0 = any)");
  flags.Add("world-size", &world, "world size");
  flags.Add("rank", &rank, "rank (fetch)");
  flags.Add("timeout-ms", &timeout_ms, "deadline");
  flags.Add("seed", &seed, "blob seed (serve)");
  if (flags.Parse(argc, argv) != tg::ParseResult::kRun) return 0;
  tg::InitLogging({.component = "bootstrap_probe", .rank = rank});  // logs to stderr
  TG_CHECK(flags.positionals().size() == 1, kInvalidArgument, "expected serve or fetch");
  const std::string mode = flags.positionals()[0];

  tg::parallel::BootstrapOptions options{.master_addr = master_addr,
                                         .master_port = static_cast<uint16_t>(port),
                                         .world_size = world,
                                         .timeout = std::chrono::milliseconds(timeout_ms)};
  if (mode == "serve") {
    tg::parallel::BootstrapServer server(options, BlobFromSeed(seed));
    std::cout << "port " << server.port() << std::endl;
    server.Wait();
    std::cout << "served" << std::endl;
  } else {
    std::cout << "id " << Hex(tg::parallel::FetchUniqueId(options, rank)) << std::endl;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const tg::Error& error) {
    std::cerr << "error: " << error.message() << std::endl;
    switch (error.kind()) {
      case tg::ErrorKind::kInvalidArgument:
        return 2;
      case tg::ErrorKind::kUnavailable:
        return 3;
      default:
        return 1;
    }
  }
}
