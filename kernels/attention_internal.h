// Kernel variants behind the public attention entry points (attention.h); not a public API.
#pragma once

#include "kernels/attention.h"

namespace tg::kernels::detail {

// Tensor-core causal prefill for a bfloat16 cache and head sizes 64/128; kUnsupported
// otherwise, so that PrefillAttention falls back to the SIMT kernel. Parameters are checked by
// the caller.
Status PrefillAttentionTensorCore(const PrefillAttentionParams& p, Stream stream);

}  // namespace tg::kernels::detail
