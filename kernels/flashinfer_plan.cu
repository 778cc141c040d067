// The host half of FlashInfer's Hopper prefill: its scheduler (PrefillSM90Plan) over our batch.
#include <flashinfer/attention/scheduler.cuh>

#include <exception>
#include <vector>

#include "kernels/flashinfer_prefill.h"

namespace tg::kernels::detail {
namespace {

// FlashInfer's query tile: 128 rows (192 for head size 64); the smaller one bounds the tiles.
constexpr int kMinQueryTile = 128;
// FlashInfer switches to one schedule for all heads (a kernel variant we do not instantiate)
// past this many tiles per head.
constexpr int kMaxTilesPerHead = 4096;
constexpr size_t kAlign = 16;

size_t Aligned(size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

}  // namespace

size_t FlashInferScheduleBytes(int num_tokens, int num_seqs, int num_q_heads, int num_sms) {
  const size_t tiles_per_head =
      static_cast<size_t>((num_tokens + kMinQueryTile - 1) / kMinQueryTile) + num_seqs;
  const size_t works = tiles_per_head * num_q_heads;
  // Seven arrays of one int32 per work item and one of num_sms + 1 offsets, each 16-aligned.
  return 7 * Aligned(works * sizeof(int32_t)) +
         Aligned((static_cast<size_t>(num_sms) + 1) * sizeof(int32_t)) + kAlign;
}

Status FlashInferPlan(const FlashInferPlanParams& p, FlashInferSchedule* schedule, Stream stream) {
  if (!p.query_starts || !p.seq_lens || !p.workspace || !p.host_staging || !schedule ||
      p.num_seqs <= 0 || p.num_q_heads <= 0 || p.num_kv_heads <= 0 ||
      p.num_q_heads % p.num_kv_heads != 0) {
    return Status::kInvalidArgument;
  }
  const int total_rows = p.query_starts[p.num_seqs];
  if ((total_rows + kMinQueryTile - 1) / kMinQueryTile + p.num_seqs - 1 > kMaxTilesPerHead) {
    return Status::kUnsupported;
  }
  std::vector<int32_t> kv_page_offsets(p.num_seqs + 1);
  for (int s = 0; s <= p.num_seqs; ++s) kv_page_offsets[s] = s * p.max_blocks_per_seq;
  int num_sms = 0, device = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&num_sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess ||
      p.workspace_bytes < FlashInferScheduleBytes(total_rows, p.num_seqs, p.num_q_heads, num_sms)) {
    return Status::kInvalidArgument;
  }
  flashinfer::PrefillPlanSM90Info info;
  try {
    // The scheduler reads the lengths through non-const pointers but does not write them.
    const cudaError_t status = flashinfer::PrefillSM90Plan<int32_t>(
        /*float_buffer=*/nullptr, /*float_workspace_size_in_bytes=*/0, p.workspace, p.host_staging,
        p.workspace_bytes, info, const_cast<int32_t*>(p.query_starts), kv_page_offsets.data(),
        const_cast<int32_t*>(p.seq_lens), total_rows, p.num_seqs, p.num_q_heads, p.num_kv_heads,
        p.head_dim, p.head_dim, /*page_size (unused)=*/0,
        /*causal=*/true, /*enable_cuda_graph=*/false, /*sizeof_dtype_o=*/2, stream);
    if (status != cudaSuccess) return Status::kLaunchFailed;
  } catch (const std::exception&) {  // a negative length or a workspace overflow
    return Status::kInvalidArgument;
  }
  if (info.same_schedule_for_all_heads) return Status::kUnsupported;
  const std::vector<int64_t> fields = info.ToVector();
  if (fields.size() != FlashInferSchedule::kFields) return Status::kInvalidArgument;
  for (int i = 0; i < FlashInferSchedule::kFields; ++i) schedule->fields[i] = fields[i];
  return Status::kOk;
}

}  // namespace tg::kernels::detail
