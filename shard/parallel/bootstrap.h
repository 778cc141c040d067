// Rank bootstrap: how every rank learns the NCCL unique id that rank 0 created.
//
// Rank 0 listens on MASTER_ADDR:MASTER_PORT (TCP) and hands the 128-byte id to each rank that
// connects; the other ranks connect, retrying while rank 0 is not up yet, until a deadline. This
// works across hosts (MASTER_ADDR is any address rank 0's host answers on), not only on one.
//
// Wire protocol (all integers 32-bit little-endian):
//   rank -> rank 0:  magic "TGNC", version, world_size, rank                      (16 bytes)
//   rank 0 -> rank:  magic, version, status, rank 0's world_size, then the id if status == kOk
// A connection with the wrong magic (a port scanner, a stale peer) is closed and ignored. A rank
// whose world size or version differs from rank 0's is refused with a status, so both sides fail
// with a message that names the mismatch instead of hanging in NCCL.
//
// The id is an opaque blob here: this file knows nothing about NCCL (nccl_communicator.cc calls
// ncclGetUniqueId and passes the bytes through), so it is testable without a GPU.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace tg::parallel {

inline constexpr size_t kUniqueIdBytes = 128;  // sizeof(ncclUniqueId)
using UniqueIdBlob = std::array<uint8_t, kUniqueIdBytes>;

struct BootstrapOptions {
  std::string master_addr = "127.0.0.1";  // host name or IPv4/IPv6 address of rank 0
  uint16_t master_port = 29500;           // rank 0 may pass 0 to take any free port (tests)
  int world_size = 1;
  // Rank 0: how long to wait for every rank to fetch the id. Other ranks: how long to keep
  // trying to reach rank 0.
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};
};

// Rank 0's side. The constructor binds and listens (so a busy port fails at once, with
// tg::Error(kUnavailable)), then serves the id from a background thread until every other rank
// has it or the deadline passes. Rank 0 can meanwhile start its own NCCL init, which waits for
// the other ranks anyway.
class BootstrapServer {
 public:
  BootstrapServer(const BootstrapOptions& options, const UniqueIdBlob& id);
  ~BootstrapServer();
  BootstrapServer(const BootstrapServer&) = delete;
  BootstrapServer& operator=(const BootstrapServer&) = delete;

  // The port actually bound (differs from options.master_port only when that was 0).
  uint16_t port() const;
  // Blocks until ranks 1..world_size-1 have all received the id. Throws tg::Error:
  // kUnavailable naming the ranks that never came when the deadline passes; kInvalidArgument
  // when a rank connected with another world size, another version or a duplicate rank.
  void Wait();
  // True once serving has ended with an error (Wait() then throws it); lets rank 0 stop waiting
  // for its own NCCL init early.
  bool Failed() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Any other rank's side: connects to rank 0 (retrying on refusal, unresolvable names and
// dropped connections until options.timeout) and returns the id. Throws tg::Error:
// kUnavailable when rank 0 never answered (naming the address and the last socket error);
// kInvalidArgument when rank 0 refused this rank (world size/version mismatch, duplicate rank).
UniqueIdBlob FetchUniqueId(const BootstrapOptions& options, int rank);

}  // namespace tg::parallel
