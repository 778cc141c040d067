// Kernel variants behind the public attention entry points (attention.h); not a public API.
#pragma once

#include "kernels/attention.h"

namespace tg::kernels::detail {

// Tensor-core causal prefill for a bfloat16 cache and head sizes 64/128; kUnsupported
// otherwise, so that PrefillAttention falls back to the SIMT kernel. Parameters are checked by
// the caller.
Status PrefillAttentionTensorCore(const PrefillAttentionParams& p, Stream stream);

// Our decode kernel and FlashInfer's (decode_attention.cu, decode_flashinfer.cu) behind
// DecodeAttention, which checks the parameters and picks one. FlashInferDecode returns
// kUnsupported in builds without FlashInfer.
bool ValidDecodeShape(const DecodeAttentionParams& p);  // sizes and heads, not pointers
size_t OurDecodeScratchBytes(const DecodeAttentionParams& p);
Status OurDecode(const DecodeAttentionParams& p, Stream stream);
bool FlashInferDecodeCompiled();
size_t FlashInferDecodeScratchBytes(const DecodeAttentionParams& p);
Status FlashInferDecode(const DecodeAttentionParams& p, Stream stream);

}  // namespace tg::kernels::detail
