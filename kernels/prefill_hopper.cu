// HopperPrefill (prefill_hopper.h): the float32 <-> bf16 staging around FlashInfer's kernel, the
// plan cache and the dispatch over head sizes. FlashInfer itself is behind flashinfer_prefill.h.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <vector>

#include "kernels/device_utils.cuh"
#include "kernels/flashinfer_prefill.h"
#include "kernels/prefill_hopper.h"

namespace tg::kernels {
#ifdef TG_HAVE_FLASHINFER
namespace {

constexpr size_t kAlign = 256;
constexpr int kThreads = 256;

size_t Aligned(size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

size_t StagingBytes(int num_tokens, int num_q_heads, int head_dim) {
  return Aligned(static_cast<size_t>(num_tokens) * num_q_heads * head_dim * 2);
}

// Four consecutive values per thread: rows of `width` floats `stride` apart <-> packed bf16 rows
// (width and stride multiples of 4, checked by the caller).
__global__ void FloatRowsToBf16(const float* in, int stride, int rows, int width,
                                __nv_bfloat16* out) {
  const int quads = width / 4;
  const size_t total = static_cast<size_t>(rows) * quads;
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const size_t row = i / quads, col = (i % quads) * 4;
    const float4 v = *reinterpret_cast<const float4*>(in + row * stride + col);
    __nv_bfloat162* o = reinterpret_cast<__nv_bfloat162*>(out + row * width + col);
    o[0] = __floats2bfloat162_rn(v.x, v.y);
    o[1] = __floats2bfloat162_rn(v.z, v.w);
  }
}

__global__ void Bf16RowsToFloat(const __nv_bfloat16* in, int rows, int width, float* out,
                                int stride) {
  const int quads = width / 4;
  const size_t total = static_cast<size_t>(rows) * quads;
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const size_t row = i / quads, col = (i % quads) * 4;
    const __nv_bfloat162* v = reinterpret_cast<const __nv_bfloat162*>(in + row * width + col);
    const float2 a = __bfloat1622float2(v[0]), b = __bfloat1622float2(v[1]);
    *reinterpret_cast<float4*>(out + row * stride + col) = make_float4(a.x, a.y, b.x, b.y);
  }
}

int GridFor(size_t items, int num_sms) {
  const size_t blocks = (items + kThreads - 1) / kThreads;
  return static_cast<int>(std::min<size_t>(std::max<size_t>(blocks, 1), size_t(num_sms) * 8));
}

bool Aligned16(const void* ptr) { return reinterpret_cast<uintptr_t>(ptr) % 16 == 0; }

}  // namespace
#endif  // TG_HAVE_FLASHINFER

// The batch a plan was made for: the plan is reused while every field matches.
struct PlanKey {
  std::vector<int32_t> query_starts, seq_lens;
  int max_blocks_per_seq = 0, num_q_heads = 0, num_kv_heads = 0, head_dim = 0;
  const void* workspace = nullptr;

  bool operator==(const PlanKey& o) const {
    return query_starts == o.query_starts && seq_lens == o.seq_lens &&
           max_blocks_per_seq == o.max_blocks_per_seq && num_q_heads == o.num_q_heads &&
           num_kv_heads == o.num_kv_heads && head_dim == o.head_dim && workspace == o.workspace;
  }
};

struct HopperPrefill::Impl {
  int num_sms = 0;
  PlanKey planned;  // empty: nothing planned yet (or the last plan failed)
  detail::FlashInferSchedule schedule;
  std::vector<uint8_t> host_staging;
};

HopperPrefill::HopperPrefill(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HopperPrefill::~HopperPrefill() = default;

bool HopperPrefill::Compiled() {
#ifdef TG_HAVE_FLASHINFER
  return true;
#else
  return false;
#endif
}

std::unique_ptr<HopperPrefill> HopperPrefill::Create(int device) {
  if (!Compiled()) return nullptr;
  cudaDeviceProp props{};
  if (cudaGetDeviceProperties(&props, device) != cudaSuccess) return nullptr;
  if (props.major != 9 || props.minor != 0) return nullptr;
  auto impl = std::make_unique<Impl>();
  impl->num_sms = props.multiProcessorCount;
  return std::unique_ptr<HopperPrefill>(new HopperPrefill(std::move(impl)));
}

bool HopperPrefill::Supports(DType kv_dtype, int head_dim) {
  return Compiled() && kv_dtype == DType::kBFloat16 && (head_dim == 64 || head_dim == 128);
}

size_t HopperPrefill::WorkspaceBytes(int num_tokens, int num_seqs, int num_q_heads, int head_dim,
                                     DType out_dtype) const {
#ifdef TG_HAVE_FLASHINFER
  const int staged = out_dtype == DType::kBFloat16 ? 1 : 2;  // q, and a float32 output's copy
  return Aligned(
             detail::FlashInferScheduleBytes(num_tokens, num_seqs, num_q_heads, impl_->num_sms)) +
         staged * StagingBytes(num_tokens, num_q_heads, head_dim);
#else
  (void)num_tokens, (void)num_seqs, (void)num_q_heads, (void)head_dim, (void)out_dtype;
  return 0;
#endif
}

Status HopperPrefill::Run(const PrefillAttentionParams& p, Stream stream) {
#ifdef TG_HAVE_FLASHINFER
  if (!Supports(p.dtype, p.head_dim)) return Status::kUnsupported;
  if (!p.host_query_starts || !p.host_seq_lens || !p.workspace) return Status::kUnsupported;
  const int width = p.num_q_heads * p.head_dim;
  // 16-byte rows: four floats, or eight bf16 written by the kernel in place.
  const bool out_in_place = p.out_dtype == DType::kBFloat16;
  if (!out_in_place && p.out_dtype != DType::kFloat32) return Status::kUnsupported;
  if (p.q_stride % 4 != 0 || p.out_stride % (out_in_place ? 8 : 4) != 0 || !Aligned16(p.q) ||
      !Aligned16(p.out) || !Aligned16(p.k_cache) || !Aligned16(p.v_cache)) {
    return Status::kUnsupported;
  }
  // The host lengths are the ones FlashInfer schedules by: check them as the kernel would.
  const int32_t* qs = p.host_query_starts;
  if (qs[0] != 0) return Status::kInvalidArgument;
  for (int s = 0; s < p.num_seqs; ++s) {
    const int q_len = qs[s + 1] - qs[s];
    if (q_len < 0 || q_len > p.max_query_len || p.host_seq_lens[s] < q_len ||
        p.host_seq_lens[s] > p.max_blocks_per_seq * p.block_size) {
      return Status::kInvalidArgument;
    }
  }
  const int num_tokens = qs[p.num_seqs];
  const size_t schedule_bytes = Aligned(
      detail::FlashInferScheduleBytes(num_tokens, p.num_seqs, p.num_q_heads, impl_->num_sms));
  if (p.workspace_bytes <
      WorkspaceBytes(num_tokens, p.num_seqs, p.num_q_heads, p.head_dim, p.out_dtype)) {
    return Status::kInvalidArgument;
  }
  if (num_tokens == 0) return Status::kOk;

  PlanKey key{{qs, qs + p.num_seqs + 1},
              {p.host_seq_lens, p.host_seq_lens + p.num_seqs},
              p.max_blocks_per_seq,
              p.num_q_heads,
              p.num_kv_heads,
              p.head_dim,
              p.workspace};
  if (!(key == impl_->planned)) {
    impl_->planned = PlanKey{};
    impl_->host_staging.resize(schedule_bytes);
    detail::FlashInferPlanParams plan;
    plan.query_starts = qs;
    plan.seq_lens = p.host_seq_lens;
    plan.num_seqs = p.num_seqs;
    plan.max_blocks_per_seq = p.max_blocks_per_seq;
    plan.num_q_heads = p.num_q_heads;
    plan.num_kv_heads = p.num_kv_heads;
    plan.head_dim = p.head_dim;
    plan.workspace = p.workspace;
    plan.host_staging = impl_->host_staging.data();
    plan.workspace_bytes = schedule_bytes;
    const Status planned = detail::FlashInferPlan(plan, &impl_->schedule, stream);
    if (planned != Status::kOk) return planned;
    impl_->planned = std::move(key);
  }

  auto* bytes = static_cast<uint8_t*>(p.workspace);
  auto* q16 = reinterpret_cast<__nv_bfloat16*>(bytes + schedule_bytes);
  auto* out16 =
      out_in_place
          ? static_cast<__nv_bfloat16*>(p.out)
          : reinterpret_cast<__nv_bfloat16*>(bytes + schedule_bytes +
                                             StagingBytes(num_tokens, p.num_q_heads, p.head_dim));
  const size_t quads = static_cast<size_t>(num_tokens) * (width / 4);
  FloatRowsToBf16<<<GridFor(quads, impl_->num_sms), kThreads, 0, stream>>>(p.q, p.q_stride,
                                                                           num_tokens, width, q16);
  if (detail::LaunchStatus() != Status::kOk) return Status::kLaunchFailed;

  detail::FlashInferRunParams run;
  run.q = q16;
  run.out = out16;
  run.out_stride = out_in_place ? p.out_stride : width;
  run.k_cache = p.k_cache;
  run.v_cache = p.v_cache;
  run.block_tables = p.block_tables;
  run.workspace = p.workspace;
  run.schedule = impl_->schedule;
  run.num_tokens = num_tokens;
  run.num_q_heads = p.num_q_heads;
  run.num_kv_heads = p.num_kv_heads;
  run.block_size = p.block_size;
  run.scale = p.scale;
  const Status ran = p.head_dim == 64 ? detail::FlashInferRun<64>(run, stream)
                                      : detail::FlashInferRun<128>(run, stream);
  if (ran != Status::kOk || out_in_place) return ran;

  Bf16RowsToFloat<<<GridFor(quads, impl_->num_sms), kThreads, 0, stream>>>(
      out16, num_tokens, width, static_cast<float*>(p.out), p.out_stride);
  return detail::LaunchStatus();
#else
  (void)p, (void)stream;
  return Status::kUnsupported;
#endif
}

}  // namespace tg::kernels
