// The random checkpoint the multi-GPU runs use loads through WeightSource (index-sharded bf16
// safetensors), and a rank's slice read from disk equals the same part of the whole tensor.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "model_files/weight_source.h"
#include "shard/parallel/tp_plan.h"

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
  fs::remove_all(dir);
}

}  // namespace
}  // namespace tg::parallel
