// The shard protocol round-trips every field the router and shard rely on.
#include <gtest/gtest.h>

#include "generate.pb.h"

namespace {

TEST(Proto, PrefillRequestRoundTrips) {
  textgen::v1::PrefillRequest request;
  auto* batch = request.mutable_batch();
  batch->set_id(7);
  auto* r = batch->add_requests();
  r->set_id(99);
  for (uint32_t t : {1u, 403u, 407u}) r->add_input_ids(t);
  r->mutable_parameters()->set_temperature(0.7f);
  r->mutable_parameters()->set_seed(1234567890123ull);
  r->mutable_stopping_parameters()->set_max_new_tokens(64);
  r->mutable_stopping_parameters()->set_ignore_eos_token(true);
  r->set_top_n_tokens(5);
  r->add_blocks(3);
  r->add_slots(48);
  r->set_cache_len(16);
  r->set_chunk_len(32);
  request.add_cached_batches()->set_id(3);
  auto* grant = request.add_block_grants();
  grant->set_request_id(42);
  grant->add_blocks(11);

  std::string wire = request.SerializeAsString();
  textgen::v1::PrefillRequest back;
  ASSERT_TRUE(back.ParseFromString(wire));
  const auto& br = back.batch().requests(0);
  EXPECT_EQ(back.batch().id(), 7u);
  EXPECT_EQ(br.input_ids_size(), 3);
  EXPECT_EQ(br.input_ids(1), 403u);
  EXPECT_FLOAT_EQ(br.parameters().temperature(), 0.7f);
  EXPECT_EQ(br.parameters().seed(), 1234567890123ull);
  EXPECT_TRUE(br.stopping_parameters().ignore_eos_token());
  EXPECT_EQ(br.top_n_tokens(), 5u);
  EXPECT_EQ(br.slots(0), 48u);
  EXPECT_EQ(br.cache_len(), 16u);
  EXPECT_EQ(br.chunk_len(), 32u);
  EXPECT_EQ(back.cached_batches(0).id(), 3u);
  EXPECT_EQ(back.block_grants(0).request_id(), 42u);
  EXPECT_EQ(back.block_grants(0).blocks(0), 11u);
}

// A shard that predates mixed batches leaves the flag false, which the router refuses.
TEST(Proto, MixedBatchesDefaultsToUnsupported) {
  textgen::v1::InfoResponse old_shard;
  EXPECT_FALSE(old_shard.mixed_batches());
}

TEST(Proto, GenerationCarriesFinishReasonAndOptionalSeed) {
  textgen::v1::Generation g;
  g.set_request_id(5);
  g.mutable_tokens()->add_ids(2);
  g.mutable_tokens()->add_logprobs(-0.25f);
  g.mutable_generated_text()->set_finish_reason(textgen::v1::FINISH_REASON_EOS_TOKEN);
  textgen::v1::Generation back;
  ASSERT_TRUE(back.ParseFromString(g.SerializeAsString()));
  EXPECT_EQ(back.generated_text().finish_reason(), textgen::v1::FINISH_REASON_EOS_TOKEN);
  EXPECT_FALSE(back.generated_text().has_seed());
  EXPECT_FLOAT_EQ(back.tokens().logprobs(0), -0.25f);
  textgen::v1::ClearCacheRequest clear;
  EXPECT_FALSE(clear.has_id());
}

}  // namespace
