// Tensor-parallel slicing on the CPU backend: N ranks (threads with the in-process
// communicator) of the shard's LlamaModel each read only their slices of a random-weight Llama
// from a safetensors file; their logits must equal the unsliced model's, for a prefill and
// several greedy decode steps. The comparison runs at every depth (the model cut after layer
// 1, 2, ...), so a wrong layer is named by the first depth that differs.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "common/error.h"
#include "model_files/weight_source.h"
#include "shard/backend/backend.h"
#include "shard/engine/forward_batch.h"
#include "shard/models/llama.h"
#include "shard/parallel/in_process_communicator.h"

namespace tg::parallel {
namespace {

namespace fs = std::filesystem;
using backend::Tensor;

constexpr int kLayers = 2, kHidden = 64, kHeads = 8, kKvHeads = 2, kHeadDim = 8;
constexpr int kInter = 96, kVocab = 101;
constexpr int kBlocks = 6, kBlockSize = 4;
constexpr int kDecodeSteps = 4;

struct HostTensor {
  std::vector<int64_t> shape;
  std::vector<float> values;
};

// Writes config.json + model.safetensors (F32) of a random Llama into `dir`.
void WriteRandomLlama(const fs::path& dir) {
  std::mt19937 rng(1234);
  std::map<std::string, HostTensor> tensors;
  auto matrix = [&](const std::string& name, int64_t rows, int64_t cols) {
    const float bound = 1.7f / std::sqrt(static_cast<float>(cols));
    std::uniform_real_distribution<float> dist(-bound, bound);
    HostTensor t{{rows, cols}, std::vector<float>(static_cast<size_t>(rows * cols))};
    for (float& x : t.values) x = dist(rng);
    tensors[name] = std::move(t);
  };
  auto norm = [&](const std::string& name) {
    std::uniform_real_distribution<float> dist(0.8f, 1.2f);
    HostTensor t{{kHidden}, std::vector<float>(kHidden)};
    for (float& x : t.values) x = dist(rng);
    tensors[name] = std::move(t);
  };
  std::uniform_real_distribution<float> embed_dist(-1.0f, 1.0f);
  HostTensor embed{{kVocab, kHidden}, std::vector<float>(kVocab * kHidden)};
  for (float& x : embed.values) x = embed_dist(rng);
  tensors["model.embed_tokens.weight"] = std::move(embed);
  matrix("lm_head.weight", kVocab, kHidden);
  norm("model.norm.weight");
  for (int i = 0; i < kLayers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    norm(p + "input_layernorm.weight");
    norm(p + "post_attention_layernorm.weight");
    matrix(p + "self_attn.q_proj.weight", kHeads * kHeadDim, kHidden);
    matrix(p + "self_attn.k_proj.weight", kKvHeads * kHeadDim, kHidden);
    matrix(p + "self_attn.v_proj.weight", kKvHeads * kHeadDim, kHidden);
    matrix(p + "self_attn.o_proj.weight", kHidden, kHeads * kHeadDim);
    matrix(p + "mlp.gate_proj.weight", kInter, kHidden);
    matrix(p + "mlp.up_proj.weight", kInter, kHidden);
    matrix(p + "mlp.down_proj.weight", kHidden, kInter);
  }

  std::string header = "{";
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    const uint64_t bytes = t.values.size() * sizeof(float);
    header += (header.size() > 1 ? "," : "") + std::string("\"") + name +
              "\":{\"dtype\":\"F32\",\"shape\":[";
    for (size_t i = 0; i < t.shape.size(); ++i) {
      header += (i ? "," : "") + std::to_string(t.shape[i]);
    }
    header += "],\"data_offsets\":[" + std::to_string(offset) + "," +
              std::to_string(offset + bytes) + "]}";
    offset += bytes;
  }
  header += "}";
  while (header.size() % 8 != 0) header += ' ';
  std::ofstream file(dir / "model.safetensors", std::ios::binary);
  uint64_t header_size = header.size();
  file.write(reinterpret_cast<const char*>(&header_size), 8);
  file.write(header.data(), static_cast<std::streamsize>(header.size()));
  for (const auto& [name, t] : tensors) {
    file.write(reinterpret_cast<const char*>(t.values.data()),
               static_cast<std::streamsize>(t.values.size() * sizeof(float)));
  }
  std::ofstream config(dir / "config.json");
  config << R"({"model_type": "llama", "architectures": ["LlamaForCausalLM"],
    "hidden_size": )"
         << kHidden << R"(, "intermediate_size": )" << kInter << R"(, "num_hidden_layers": )"
         << kLayers << R"(, "num_attention_heads": )" << kHeads << R"(, "num_key_value_heads": )"
         << kKvHeads << R"(, "vocab_size": )" << kVocab
         << R"(, "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
    "tie_word_embeddings": false})";
}

// Sequence 0 lives in blocks 0-2, sequence 1 in blocks 3-5.
const std::vector<uint32_t> kBlocks0 = {0, 1, 2}, kBlocks1 = {3, 4, 5};

// A prefill of two sequences (5 and 3 tokens, ids spread over the vocabulary).
shard::ForwardBatch Prefill(const shard::KvPool& pool) {
  const std::vector<int32_t> first = {3, 99, 50, 77, 100}, second = {0, 26, 52};
  shard::ForwardBatchBuilder b(pool);
  b.AddSequence(first, 0, kBlocks0).AddLogitRow(4);
  b.AddSequence(second, 0, kBlocks1).AddLogitRow(7);
  return b.Build();
}

// The decode step after `step` previous decode steps, feeding `tokens`.
shard::ForwardBatch Decode(const shard::KvPool& pool, int step,
                           const std::vector<int32_t>& tokens) {
  shard::ForwardBatchBuilder b(pool);
  b.AddSequence(std::span(tokens).first(1), 5 + step, kBlocks0).AddLogitRow(0);
  b.AddSequence(std::span(tokens).subspan(1, 1), 3 + step, kBlocks1).AddLogitRow(1);
  return b.Build();
}

std::vector<float> ToHost(backend::Backend& backend, const Tensor& t) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  backend.CopyToHost(t, out.data());
  return out;
}

std::vector<int32_t> Argmax(const std::vector<float>& logits, int rows) {
  std::vector<int32_t> out;
  const int cols = static_cast<int>(logits.size()) / rows;
  for (int r = 0; r < rows; ++r) {
    auto begin = logits.begin() + r * cols;
    out.push_back(static_cast<int32_t>(std::max_element(begin, begin + cols) - begin));
  }
  return out;
}

void ExpectClose(const std::vector<float>& got, const std::vector<float>& want,
                 const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_NEAR(got[i], want[i], 1e-4 + 1e-4 * std::fabs(want[i])) << what << " element " << i;
  }
}

// The model cut after its first `depth` layers (then the final norm and lm_head).
model::ModelConfig AtDepth(model::ModelConfig config, int depth) {
  config.num_hidden_layers = static_cast<uint32_t>(depth);
  return config;
}

class TpSlicingTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("tg_tp_slicing_" + std::to_string(getpid()));
    fs::create_directories(dir_);
    WriteRandomLlama(dir_);
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  // One run's logits and greedy tokens, per step.
  struct Trace {
    std::vector<std::vector<float>> logits;
    std::vector<std::vector<int32_t>> tokens;
  };

  // The prefill and the decode steps on one rank (`comm`; the unsliced model without one).
  // Decode step s feeds feed[s] when given, else the run's own greedy tokens of the step before.
  static Trace Run(const model::ModelConfig& config, Communicator* comm,
                   const std::vector<std::vector<int32_t>>& feed = {}) {
    auto source = model::WeightSource::Open(dir_);
    auto backend = backend::MakeCpuBackend({.threads = 1});
    std::unique_ptr<shard::LlamaModel> model =
        comm ? std::make_unique<shard::LlamaModel>(config, *source, *backend, backend::DType::kF32,
                                                   *comm)
             : std::make_unique<shard::LlamaModel>(config, *source, *backend, backend::DType::kF32);
    model->kv_pool().Allocate(kBlocks, kBlockSize);
    Trace trace;
    for (int step = 0; step <= kDecodeSteps; ++step) {
      const std::vector<std::vector<int32_t>>& fed = feed.empty() ? trace.tokens : feed;
      const shard::ForwardBatch batch =
          step == 0 ? Prefill(model->kv_pool()) : Decode(model->kv_pool(), step - 1, fed[step - 1]);
      trace.logits.push_back(ToHost(*backend, model->Forward(batch)));
      trace.tokens.push_back(Argmax(trace.logits.back(), 2));
    }
    return trace;
  }

  static fs::path dir_;
};
fs::path TpSlicingTest::dir_;

class TpSlicingWorldTest : public TpSlicingTest, public ::testing::WithParamInterface<int> {};

TEST_P(TpSlicingWorldTest, EveryDepthOfEveryRankEqualsTheUnslicedModel) {
  const int world = GetParam();
  auto source = model::WeightSource::Open(dir_);
  const model::ModelConfig config = source->config();

  // The unsliced whole model's greedy tokens drive every run.
  const std::vector<std::vector<int32_t>> tokens = Run(config, nullptr).tokens;

  for (int depth = 1; depth <= kLayers; ++depth) {
    const model::ModelConfig cut = AtDepth(config, depth);
    const Trace reference = Run(cut, nullptr, tokens);

    InProcessGroup group(world, std::chrono::seconds(10));
    std::vector<Trace> traces(world);
    std::vector<std::string> errors(world);
    std::vector<std::thread> threads;
    for (int r = 0; r < world; ++r) {
      threads.emplace_back([&, r] {
        auto comm = group.Join(r);
        try {
          traces[r] = Run(cut, comm.get(), tokens);
        } catch (const Error& error) {
          errors[r] = error.message();
        }
      });
    }
    for (auto& t : threads) t.join();

    for (int r = 0; r < world; ++r) {
      ASSERT_EQ(errors[r], "") << "rank " << r;
      for (int step = 0; step <= kDecodeSteps; ++step) {
        const std::string where = "depth " + std::to_string(depth) + " rank " + std::to_string(r) +
                                  " step " + std::to_string(step);
        ExpectClose(traces[r].logits[step], reference.logits[step], where + " logits");
        EXPECT_EQ(traces[r].tokens[step], reference.tokens[step]) << where;
        // Every rank holds bit-identical logits (the collectives sum in one order).
        EXPECT_EQ(traces[r].logits[step], traces[0].logits[step]) << where;
      }
    }
  }
}

// 2: KV heads split 1 per rank; 4 and 8: KV heads replicated 2x and 4x.
INSTANTIATE_TEST_SUITE_P(Worlds, TpSlicingWorldTest, ::testing::Values(2, 4, 8));

TEST(TpSlicingErrors, ShapesThatDoNotSplitAreRefusedBeforeLoading) {
  model::ModelConfig config;
  config.hidden_size = kHidden;
  config.num_attention_heads = kHeads;
  config.num_key_value_heads = kKvHeads;
  config.head_dim = kHeadDim;
  config.intermediate_size = kInter;
  config.vocab_size = kVocab;
  EXPECT_THROW(TensorParallelPlan(config, 0, 3), Error);  // 8 heads over 3
}

}  // namespace
}  // namespace tg::parallel
