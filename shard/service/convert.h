// Conversions between proto/generate.proto messages and the engine's types, and the one function
// that maps exceptions to grpc::Status.
#pragma once

#include <exception>
#include <vector>

#include <grpcpp/support/status.h>

#include "generate.pb.h"
#include "shard/engine/types.h"

namespace tg::shard {

RequestSpec FromProto(const textgen::v1::Request& request);
std::vector<BlockGrant> FromProto(
    const google::protobuf::RepeatedPtrField<textgen::v1::BlockGrant>& grants);
WarmupParams FromProto(const textgen::v1::WarmupRequest& request);
void ToProto(const WarmupResult& result, textgen::v1::WarmupResponse* response);
void ToProto(const CachedBatchInfo& batch, textgen::v1::CachedBatch* out);
// Fills generations, batch, timings and errors of a Prefill or Decode response.
template <typename Response>
void ToProto(const StepOutput& step, Response* response);

// The gRPC boundary's error mapping: tg::Error kinds to status codes, anything else INTERNAL.
grpc::Status ToGrpcStatus(const std::exception_ptr& error);

}  // namespace tg::shard
