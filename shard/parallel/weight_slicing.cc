#include "shard/parallel/weight_slicing.h"

#include <algorithm>

#include "common/error.h"

namespace tg::parallel {
namespace {

template <typename T, typename Read>
SlicedTensor<T> ReadSlice(const model::WeightSource& source, const TensorParallelPlan& plan,
                          const std::string& name, Read read) {
  const WeightSlice slice = plan.Slice(name);
  const model::TensorInfo info = source.Info(name);
  TG_CHECK(info.shape.size() == 1 || info.shape.size() == 2, kCorruptFile,
           name + ": tensor parallelism slices only vectors and matrices");
  SlicedTensor<T> out;
  out.values = read(slice);
  if (info.shape.size() == 2) {
    const int64_t end = slice.cols.end < 0 ? info.shape[1] : slice.cols.end;
    out.cols = end - slice.cols.begin;
  }
  TG_CHECK(out.cols > 0 && static_cast<int64_t>(out.values.size()) % out.cols == 0, kInternal,
           name + ": slice size does not match its width");
  out.rows = static_cast<int64_t>(out.values.size()) / out.cols;
  if (slice.padded_rows > out.rows) {
    out.values.resize(static_cast<size_t>(slice.padded_rows * out.cols), T{});
    out.rows = slice.padded_rows;
  }
  if (slice.kind == SplitKind::kReplicatedRank0 && plan.rank() != 0) {
    std::fill(out.values.begin(), out.values.end(), T{});
  }
  return out;
}

}  // namespace

SlicedTensor<float> ReadSliceF32(const model::WeightSource& source, const TensorParallelPlan& plan,
                                 const std::string& name) {
  return ReadSlice<float>(source, plan, name, [&](const WeightSlice& slice) {
    return source.ReadF32(name, slice.rows, slice.cols);
  });
}

SlicedTensor<uint16_t> ReadSliceBF16(const model::WeightSource& source,
                                     const TensorParallelPlan& plan, const std::string& name) {
  // bf16 zero is the bit pattern 0, so value-initialised padding is a zero weight.
  return ReadSlice<uint16_t>(source, plan, name, [&](const WeightSlice& slice) {
    return source.ReadBF16(name, slice.rows, slice.cols);
  });
}

std::vector<int32_t> LocalVocabIds(const TensorParallelPlan& plan,
                                   std::span<const int32_t> token_ids) {
  const IndexRange vocab = plan.vocab();
  const auto zero_row = static_cast<int32_t>(plan.vocab_shard_size());
  std::vector<int32_t> local(token_ids.size());
  for (size_t i = 0; i < token_ids.size(); ++i) {
    const int64_t id = token_ids[i];
    local[i] =
        id >= vocab.begin && id < vocab.end ? static_cast<int32_t>(id - vocab.begin) : zero_row;
  }
  return local;
}

}  // namespace tg::parallel
