// The router side of the shard protocol: engine types to proto and back, field by field.
#include "router/client/convert.h"

#include <gtest/gtest.h>

namespace tg::client {
namespace {

namespace pb = textgen::v1;

TEST(RouterConvertTest, APrefillCallCarriesEveryField) {
  ShardRequest r{.id = 7,
                 .inputs = "hi",
                 .input_ids = {1, 2, 3},
                 .generated_ids = {9},
                 .truncate = 2,
                 .max_new_tokens = 5,
                 .min_new_tokens = 1,
                 .stop_token_ids = {4},
                 .ignore_eos = true,
                 .prefill_logprobs = true,
                 .top_n_tokens = 3,
                 .blocks = {10, 11},
                 .cache_len = 16,
                 .chunk_len = 8};
  r.sampling.temperature = 0.7f;
  r.sampling.top_k = 20;
  r.sampling.do_sample = true;
  r.sampling.seed = 1234567890123ull;
  r.sampling.logit_bias = {{5, -100.0f}};
  const pb::PrefillRequest out =
      ToProto(PrefillCall{.batch_id = 3,
                          .requests = {r},
                          .cached = {{.id = 2, .request_ids = {4, 5}, .size = 2}},
                          .grants = {{.request_id = 4, .blocks = {12}}},
                          .step = 17,
                          .pipelined = true});
  EXPECT_EQ(out.step(), 17u);
  EXPECT_TRUE(out.pipelined());
  ASSERT_EQ(out.batch().requests_size(), 1);
  EXPECT_EQ(out.batch().id(), 3u);
  EXPECT_EQ(out.batch().size(), 1u);
  const pb::Request& p = out.batch().requests(0);
  EXPECT_EQ(p.id(), 7u);
  EXPECT_EQ(p.inputs(), "hi");
  EXPECT_EQ(p.input_ids_size(), 3);
  ASSERT_EQ(p.generated_ids_size(), 1);
  EXPECT_EQ(p.generated_ids(0), 9u);
  EXPECT_EQ(p.truncate(), 2u);
  EXPECT_FLOAT_EQ(p.parameters().temperature(), 0.7f);
  EXPECT_EQ(p.parameters().top_k(), 20u);
  EXPECT_TRUE(p.parameters().do_sample());
  EXPECT_EQ(p.parameters().seed(), 1234567890123ull);
  ASSERT_EQ(p.parameters().logit_bias_size(), 1);
  EXPECT_EQ(p.parameters().logit_bias(0).token(), 5u);
  EXPECT_EQ(p.stopping_parameters().max_new_tokens(), 5u);
  EXPECT_EQ(p.stopping_parameters().min_new_tokens(), 1u);
  EXPECT_EQ(p.stopping_parameters().stop_token_ids_size(), 1);
  EXPECT_TRUE(p.stopping_parameters().ignore_eos_token());
  EXPECT_TRUE(p.prefill_logprobs());
  EXPECT_EQ(p.top_n_tokens(), 3u);
  EXPECT_FALSE(p.skip_token_logprobs());
  EXPECT_EQ(p.blocks_size(), 2);
  EXPECT_EQ(p.cache_len(), 16u);
  EXPECT_EQ(p.chunk_len(), 8u);
  ASSERT_EQ(out.cached_batches_size(), 1);
  EXPECT_EQ(out.cached_batches(0).request_ids_size(), 2);
  ASSERT_EQ(out.block_grants_size(), 1);
  EXPECT_EQ(out.block_grants(0).request_id(), 4u);
  r.token_logprobs = false;
  EXPECT_TRUE(ToProto(PrefillCall{.batch_id = 4, .requests = {r}})
                  .batch()
                  .requests(0)
                  .skip_token_logprobs());
}

TEST(RouterConvertTest, ADecodeCallCarriesItsStepAndWhetherItIsPipelined) {
  const pb::DecodeRequest out =
      ToProto(DecodeCall{.batches = {{.id = 2, .request_ids = {4, 5}, .size = 2}},
                         .grants = {{.request_id = 5, .blocks = {12}}},
                         .step = 9,
                         .pipelined = true});
  ASSERT_EQ(out.batches_size(), 1);
  EXPECT_EQ(out.batches(0).request_ids_size(), 2);
  ASSERT_EQ(out.block_grants_size(), 1);
  EXPECT_EQ(out.step(), 9u);
  EXPECT_TRUE(out.pipelined());
}

TEST(RouterConvertTest, AResponseComesBackWithFinishSeedErrorsAndBatch) {
  pb::DecodeResponse response;
  pb::Generation* g = response.add_generations();
  g->set_request_id(7);
  g->mutable_tokens()->add_ids(42);
  g->mutable_tokens()->add_logprobs(-0.25f);
  g->mutable_tokens()->add_is_special(true);
  g->add_top_tokens()->add_ids(43);
  g->mutable_generated_text()->set_finish_reason(pb::FINISH_REASON_EOS_TOKEN);
  g->mutable_generated_text()->set_seed(99);
  pb::Generation* running = response.add_generations();
  running->set_request_id(8);
  running->mutable_tokens()->add_ids(1);
  response.mutable_batch()->set_id(5);
  response.mutable_batch()->add_request_ids(8);
  pb::RequestError* error = response.add_errors();
  error->set_request_id(9);
  error->set_message("boom");
  error->set_kind(pb::REQUEST_ERROR_KIND_INVALID_ARGUMENT);
  response.add_errors()->set_request_id(10);  // an older shard's error, with no kind
  response.mutable_timings()->set_forward_ns(1000);

  const StepResult result = FromProto(response);
  ASSERT_EQ(result.generations.size(), 2u);
  const ShardGeneration& done = result.generations[0];
  EXPECT_EQ(done.request_id, 7u);
  EXPECT_EQ(done.tokens.ids, std::vector<uint32_t>{42});
  EXPECT_EQ(done.tokens.logprobs, std::vector<float>{-0.25f});
  EXPECT_EQ(done.tokens.is_special, std::vector<bool>{true});
  ASSERT_EQ(done.top_tokens.size(), 1u);
  EXPECT_EQ(done.finish, engine::FinishReason::kEosToken);
  EXPECT_EQ(done.seed, 99u);
  EXPECT_FALSE(result.generations[1].finish) << "no generated_text: still running";
  ASSERT_TRUE(result.batch);
  EXPECT_EQ(result.batch->id, 5u);
  EXPECT_EQ(result.batch->request_ids, std::vector<uint64_t>{8});
  ASSERT_EQ(result.errors.size(), 2u);
  EXPECT_EQ(result.errors[0].message, "boom");
  EXPECT_EQ(result.errors[0].kind, ErrorKind::kInvalidArgument);
  EXPECT_EQ(result.errors[1].kind, ErrorKind::kUnavailable);
  EXPECT_EQ(result.timings.forward_ns, 1000u);
  EXPECT_FALSE(FromProto(pb::DecodeResponse()).batch) << "no batch: every request finished";
}

}  // namespace
}  // namespace tg::client
