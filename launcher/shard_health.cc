#include "launcher/shard_health.h"

#include <grpcpp/grpcpp.h>

#include <filesystem>

#include "generate.grpc.pb.h"

namespace tg::launcher {

struct ShardHealthProbe::Channel {
  std::unique_ptr<textgen::v1::TextGenerationService::Stub> stub;
};

ShardHealthProbe::ShardHealthProbe(std::string socket_path)
    : socket_path_(std::move(socket_path)) {}
ShardHealthProbe::~ShardHealthProbe() = default;
ShardHealthProbe::ShardHealthProbe(ShardHealthProbe&&) noexcept = default;
ShardHealthProbe& ShardHealthProbe::operator=(ShardHealthProbe&&) noexcept = default;

bool ShardHealthProbe::Check(std::chrono::milliseconds timeout) {
  std::error_code ec;
  // Until the shard binds its socket, a connection attempt only adds gRPC's reconnect back-off.
  if (!std::filesystem::exists(socket_path_, ec)) {
    last_error_ = "socket " + socket_path_ + " not created yet";
    return false;
  }
  if (!channel_) {
    channel_ = std::make_unique<Channel>();
    channel_->stub = textgen::v1::TextGenerationService::NewStub(
        grpc::CreateChannel("unix://" + socket_path_, grpc::InsecureChannelCredentials()));
  }
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + timeout);
  context.set_wait_for_ready(true);
  textgen::v1::HealthRequest request;
  textgen::v1::HealthResponse response;
  grpc::Status status = channel_->stub->Health(&context, request, &response);
  if (status.ok()) return true;
  last_error_ = "Health on " + socket_path_ + ": " + status.error_message() + " (code " +
                std::to_string(int(status.error_code())) + ")";
  return false;
}

}  // namespace tg::launcher
