#include "shard/parallel/communicator.h"

#include <cstring>

#include "common/error.h"

namespace tg::parallel {
namespace {

class SingleRankCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  void AllReduceSum(backend::Tensor& /*tensor*/) override {}
  void AllGatherColumns(const backend::Tensor& local, backend::Tensor& out) override {
    CheckGatherColumnsShapes(local, out, 1);
    if (local.data() == out.data()) return;
    // With one rank the model normally computes logits straight into `out`; a separate local
    // buffer can only be copied here on the host.
    TG_CHECK(local.device() == backend::DeviceKind::kCpu, kInvalidArgument,
             "single-rank AllGatherColumns on a device tensor: pass the same tensor as local and "
             "out");
    const int64_t rows = out.dim(0), cols = out.dim(1), shard = local.dim(1);
    for (int64_t r = 0; r < rows; ++r) {
      std::memcpy(out.data_as<float>() + r * cols, local.data_as<const float>() + r * shard,
                  static_cast<size_t>(cols) * sizeof(float));
    }
  }
};

}  // namespace

std::unique_ptr<Communicator> MakeSingleRankCommunicator() {
  return std::make_unique<SingleRankCommunicator>();
}

void CheckGatherColumnsShapes(const backend::Tensor& local, const backend::Tensor& out,
                              int world_size) {
  TG_CHECK(local.rank() == 2 && out.rank() == 2 && local.dim(0) == out.dim(0), kInvalidArgument,
           "AllGatherColumns: local " + local.DebugString() + " and out " + out.DebugString() +
               " must be [rows, shard_cols] and [rows, total_cols]");
  TG_CHECK(local.dtype() == backend::DType::kF32 && out.dtype() == backend::DType::kF32,
           kInvalidArgument, "AllGatherColumns: float32 only, got " + local.DebugString());
  TG_CHECK(local.device() == out.device(), kInvalidArgument,
           "AllGatherColumns: local and out on different devices");
  const int64_t shard = local.dim(1), total = out.dim(1);
  TG_CHECK((world_size - 1) * shard < total && total <= world_size * shard, kInvalidArgument,
           "AllGatherColumns: " + std::to_string(world_size) + " shards of " +
               std::to_string(shard) + " columns cannot make " + std::to_string(total) +
               " columns");
}

}  // namespace tg::parallel
