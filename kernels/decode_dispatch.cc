// DecodeAttention (attention.h): the parameter checks both decode kernels share, and the choice
// between ours and FlashInfer's.
#include <cstdlib>
#include <cstring>

#include "kernels/attention.h"
#include "kernels/attention_internal.h"

namespace tg::kernels {

const char* ToString(DecodeKernel kernel) {
  switch (kernel) {
    case DecodeKernel::kAuto:
      return "auto";
    case DecodeKernel::kOurs:
      return "ours";
    case DecodeKernel::kFlashInfer:
      return "flashinfer";
  }
  return "unknown";
}

namespace {

// TG_DECODE_ATTENTION=ours makes the automatic choice ours everywhere: the benchmarks use it to
// time whole decode steps on either kernel. Read once.
bool EnvironmentWantsOurs() {
  static const bool ours = [] {
    const char* value = std::getenv("TG_DECODE_ATTENTION");
    return value != nullptr && std::strcmp(value, "ours") == 0;
  }();
  return ours;
}

}  // namespace

DecodeKernel DecodeKernelFor(const DecodeAttentionParams& p) {
  if (p.kernel != DecodeKernel::kAuto) return p.kernel;
  if (EnvironmentWantsOurs()) return DecodeKernel::kOurs;
  // FlashInfer's wherever it serves the shape: on the H200 it reads the KV at a larger fraction
  // of the copy bandwidth than ours (cuda_bench's decode_attention lines time both per shape).
  return FlashInferDecodeServes(p) ? DecodeKernel::kFlashInfer : DecodeKernel::kOurs;
}

size_t DecodeAttentionScratchBytes(const DecodeAttentionParams& p) {
  if (!detail::ValidDecodeShape(p)) return 0;
  return DecodeKernelFor(p) == DecodeKernel::kFlashInfer ? detail::FlashInferDecodeScratchBytes(p)
                                                         : detail::OurDecodeScratchBytes(p);
}

Status DecodeAttention(const DecodeAttentionParams& p, Stream stream) {
  if (!detail::ValidDecodeShape(p) ||
      static_cast<int64_t>(p.max_blocks_per_seq) * p.block_size < p.max_context_len) {
    return Status::kInvalidArgument;
  }
  if (p.num_seqs == 0) return Status::kOk;
  if (!p.q || !p.k_cache || !p.v_cache || !p.block_tables || !p.context_lens || !p.out) {
    return Status::kInvalidArgument;
  }
  if (p.num_kv_heads > 65535 || p.num_seqs > 65535) return Status::kInvalidArgument;
  if (!AttentionOutDTypeServed(p.out_dtype)) return Status::kUnsupported;
  if (DecodeKernelFor(p) == DecodeKernel::kFlashInfer) {
    if (!FlashInferDecodeServes(p)) return Status::kUnsupported;
    return detail::FlashInferDecode(p, stream);
  }
  return detail::OurDecode(p, stream);
}

}  // namespace tg::kernels
