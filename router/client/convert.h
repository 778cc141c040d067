// Conversions between the engine's shard types (router/client/shard_client.h) and
// proto/generate.proto: the router's side of the boundary whose shard side is
// shard/service/convert.cc.
#pragma once

#include "generate.pb.h"
#include "router/client/shard_client.h"

namespace tg::client {

void ToProto(const ShardRequest& request, textgen::v1::Request* out);
void ToProto(const CachedBatch& batch, textgen::v1::CachedBatch* out);
textgen::v1::PrefillRequest ToProto(const PrefillCall& call);
textgen::v1::DecodeRequest ToProto(const DecodeCall& call);

CachedBatch FromProto(const textgen::v1::CachedBatch& batch);
ShardGeneration FromProto(const textgen::v1::Generation& generation);
StepResult FromProto(const textgen::v1::PrefillResponse& response);
StepResult FromProto(const textgen::v1::DecodeResponse& response);

}  // namespace tg::client
