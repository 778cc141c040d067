#include "shard/parallel/shard_group.h"

#include <spdlog/spdlog.h>

#include "common/error.h"
#include "shard/parallel/gloo_communicator.h"
#include "shard/parallel/nccl_communicator.h"
#include "shard/parallel/tcp_store.h"

namespace tg::parallel {
namespace {

// Ranks publish their URL once their weights are loaded, and large models on slow disks load at
// different speeds: wait long (the launcher's --startup-timeout bounds the start anyway).
constexpr std::chrono::milliseconds kLoadTimeout = std::chrono::hours(1);

}  // namespace

void ValidateShardGroupOptions(const ShardGroupOptions& options) {
  const std::string world = std::to_string(options.world_size);
  TG_CHECK(options.world_size >= 1, kInvalidArgument,
           "--world-size (WORLD_SIZE) must be at least 1, got " + world);
  TG_CHECK(options.rank >= 0 && options.rank < options.world_size, kInvalidArgument,
           "--rank (RANK) " + std::to_string(options.rank) + " is outside 0.." +
               std::to_string(options.world_size - 1) + " for world size " + world);
  TG_CHECK(options.master_port >= 1 && options.master_port <= 65534, kInvalidArgument,
           "--master-port (MASTER_PORT) must be in 1..65534 (the next port carries the NCCL id), "
           "got " +
               std::to_string(options.master_port));
  TG_CHECK(options.world_size == 1 || !options.master_addr.empty(), kInvalidArgument,
           "--master-addr (MASTER_ADDR) is required with world size " + world);
  TG_CHECK(options.init_timeout.count() > 0 && options.collective_timeout.count() > 0,
           kInvalidArgument, "the init and collective timeouts must be positive");
}

std::vector<std::string> RankSocketUrls(const std::string& uds_prefix, int world_size) {
  std::vector<std::string> urls;
  for (int r = 0; r < world_size; ++r) {
    urls.push_back("unix://" + uds_prefix + "-" + std::to_string(r));
  }
  return urls;
}

ShardGroup::ShardGroup(const ShardGroupOptions& options, backend::Backend& backend)
    : options_(options) {
  ValidateShardGroupOptions(options);
  if (options.world_size == 1) {
    communicator_ = MakeSingleRankCommunicator();
    return;
  }
  const auto port = static_cast<uint16_t>(options.master_port);
  if (options.rank == 0) {
    store_server_ = std::make_unique<TcpStoreServer>(options.master_addr, port, options.world_size);
  }
  store_ = std::make_unique<TcpStoreClient>(options.master_addr, port, options.rank,
                                            options.world_size, options.init_timeout);
  local_address_ = store_->local_address();
  void* stream = backend.NativeStream();
  if (stream == nullptr) {
    communicator_ = MakeGlooCommunicator({.rank = options.rank,
                                          .world_size = options.world_size,
                                          .store = store_.get(),
                                          .listen_address = local_address_,
                                          .init_timeout = options.init_timeout,
                                          .collective_timeout = options.collective_timeout});
    return;
  }
  communicator_ = MakeNcclCommunicator({.rank = options.rank,
                                        .world_size = options.world_size,
                                        .master_addr = options.master_addr,
                                        .master_port = static_cast<uint16_t>(port + 1),
                                        .device_id = options.device_id,
                                        .stream = stream,
                                        .init_timeout = options.init_timeout,
                                        .collective_timeout = options.collective_timeout});
}

ShardGroup::~ShardGroup() = default;

std::vector<std::string> ShardGroup::ExchangeUrls(const std::string& own_url) {
  if (options_.world_size == 1) return {own_url};
  store_->Set("url/" + std::to_string(options_.rank), StoreBytes(own_url.begin(), own_url.end()));
  std::vector<std::string> urls;
  for (int r = 0; r < options_.world_size; ++r) {
    const StoreBytes url = store_->Get("url/" + std::to_string(r), kLoadTimeout);
    urls.emplace_back(url.begin(), url.end());
  }
  store_->StartWatching();
  return urls;
}

std::string ShardGroup::Failure() {
  if (std::string failure = communicator_->Failure(); !failure.empty()) return failure;
  if (store_server_ != nullptr) {
    if (std::string failure = store_server_->Failure(); !failure.empty()) return failure;
  }
  return store_ != nullptr ? store_->Failure() : "";
}

}  // namespace tg::parallel
