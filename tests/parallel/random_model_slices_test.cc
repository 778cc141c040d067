// The random checkpoint the multi-GPU runs use loads through WeightSource (index-sharded bf16
// safetensors), and a rank's slice read from disk equals the same part of the whole tensor.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "model_files/weight_source.h"
#include "shard/parallel/tp_plan.h"
#include "shard/parallel/weight_slicing.h"

namespace tg::parallel {
namespace {

namespace fs = std::filesystem;

TEST(RandomModelSlicesTest, SlicesReadFromDiskEqualThePartsOfTheWholeTensor) {
  const fs::path dir = fs::temp_directory_path() / ("tg_random_model_" + std::to_string(getpid()));
  const std::string command = std::string(TG_MAKE_RANDOM_MODEL) + " --out " + dir.string() +
                              " --shape tiny --layers 2 --vocab-size 1001 2>/dev/null";
  ASSERT_EQ(std::system(command.c_str()), 0);
  auto source = model::WeightSource::Open(dir);
  const model::ModelConfig& config = source->config();
  EXPECT_EQ(config.hidden_size, 256u);
  EXPECT_EQ(config.num_hidden_layers, 2u);
  EXPECT_EQ(config.vocab_size, 1001u);

  for (const std::string name :
       {"model.layers.1.self_attn.q_proj.weight", "model.layers.1.self_attn.k_proj.weight",
        "model.layers.0.self_attn.o_proj.weight", "model.layers.1.mlp.down_proj.weight",
        "lm_head.weight"}) {
    const std::vector<float> whole = source->ReadF32(name);
    const model::TensorInfo info = source->Info(name);
    const int64_t cols = info.shape[1];
    for (int world : {2, 4}) {
      for (int rank = 0; rank < world; ++rank) {
        TensorParallelPlan plan(config, rank, world);
        const WeightSlice slice = plan.Slice(name);
        const std::vector<float> part = source->ReadF32(name, slice.rows, slice.cols);
        const int64_t r0 = slice.rows.begin,
                      r1 = slice.rows.end < 0 ? info.shape[0] : slice.rows.end;
        const int64_t c0 = slice.cols.begin, c1 = slice.cols.end < 0 ? cols : slice.cols.end;
        ASSERT_EQ(part.size(), static_cast<size_t>((r1 - r0) * (c1 - c0))) << name;
        for (int64_t r = r0; r < r1; ++r) {
          for (int64_t c = c0; c < c1; ++c) {
            ASSERT_EQ(part[(r - r0) * (c1 - c0) + (c - c0)], whole[r * cols + c])
                << name << " world " << world << " rank " << rank;
          }
        }
      }
    }
  }

  // bf16 vocabulary chunks: padded to one size with zero rows, equal to the whole tensor's rows.
  const std::vector<uint16_t> head = source->ReadBF16("lm_head.weight");
  const int64_t hidden = config.hidden_size;
  for (int rank = 0; rank < 4; ++rank) {
    TensorParallelPlan plan(config, rank, 4);
    SlicedTensor<uint16_t> part = ReadSliceBF16(*source, plan, "lm_head.weight");
    ASSERT_EQ(part.rows, 251);  // ceil(1001 / 4)
    ASSERT_EQ(part.cols, hidden);
    for (int64_t r = 0; r < part.rows; ++r) {
      const int64_t global = plan.vocab().begin + r;
      for (int64_t c = 0; c < hidden; ++c) {
        ASSERT_EQ(part.values[r * hidden + c], global < 1001 ? head[global * hidden + c] : 0)
            << "rank " << rank << " row " << r;
      }
    }
  }
  fs::remove_all(dir);
}

TEST(LocalVocabIdsTest, IdsOutsideTheChunkPointAtTheZeroRow) {
  model::ModelConfig config;
  config.hidden_size = 64;
  config.num_attention_heads = 4;
  config.num_key_value_heads = 4;
  config.head_dim = 16;
  config.intermediate_size = 128;
  config.vocab_size = 10;
  TensorParallelPlan plan(config, 1, 4);  // chunks of 3: rank 1 holds ids 3, 4, 5
  const std::vector<int32_t> ids = {0, 3, 4, 5, 6, 9};
  EXPECT_EQ(LocalVocabIds(plan, ids), (std::vector<int32_t>{3, 0, 1, 2, 3, 3}));
  TensorParallelPlan last(config, 3, 4);  // holds only id 9, padded to 3 rows
  EXPECT_EQ(LocalVocabIds(last, ids), (std::vector<int32_t>{3, 3, 3, 3, 3, 0}));
}

}  // namespace
}  // namespace tg::parallel
