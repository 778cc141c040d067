// The router's gRPC client against real gRPC servers in this process: a group whose other rank
// opens its port only after the master answered (another node's shard, a moment late) still
// connects, since the first call to each rank waits to connect.
#include "router/client/sharded_client.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "generate.grpc.pb.h"

namespace tg::client {
namespace {

namespace pb = textgen::v1;

// Answers ServiceDiscovery with the group's addresses and Info with its rank.
class FakeRank final : public pb::TextGenerationService::Service {
 public:
  FakeRank(uint32_t rank, std::vector<std::string> group) : rank_(rank), group_(std::move(group)) {}

  grpc::Status ServiceDiscovery(grpc::ServerContext*, const pb::ServiceDiscoveryRequest*,
                                pb::ServiceDiscoveryResponse* response) override {
    for (const std::string& url : group_) response->add_urls(url);
    return grpc::Status::OK;
  }
  grpc::Status Info(grpc::ServerContext*, const pb::InfoRequest*,
                    pb::InfoResponse* response) override {
    response->set_rank(rank_);
    response->set_world_size(static_cast<uint32_t>(group_.size()));
    response->set_block_size(16);
    return grpc::Status::OK;
  }

 private:
  uint32_t rank_;
  std::vector<std::string> group_;
};

std::unique_ptr<grpc::Server> Serve(FakeRank& service, const std::string& address) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials());
  builder.RegisterService(&service);
  return builder.BuildAndStart();
}

TEST(ShardedClientTest, ARankThatOpensItsPortLateIsWaitedFor) {
  const std::string dir = ::testing::TempDir() + "/sharded_client_" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  const std::vector<std::string> group = {"unix://" + dir + "/rank-0", "unix://" + dir + "/rank-1"};
  FakeRank master(0, group);
  FakeRank late(1, group);
  const auto master_server = Serve(master, group[0]);
  ASSERT_TRUE(master_server);
  std::unique_ptr<grpc::Server> late_server;
  std::jthread opens_late([&] {  // joined however the test ends
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    late_server = Serve(late, group[1]);
  });
  const auto client = ShardedClient::Connect(group[0], std::chrono::seconds(30));
  ASSERT_EQ(client->world_size(), 2u);
  const pb::InfoResponse info = client->Info();  // refused at first by rank 1: no port yet
  opens_late.join();
  EXPECT_EQ(info.world_size(), 2u);
  EXPECT_EQ(info.block_size(), 16u);
  master_server->Shutdown();
  late_server->Shutdown();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tg::client
