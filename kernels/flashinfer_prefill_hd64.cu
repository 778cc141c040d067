// FlashInfer's Hopper prefill for head size 64 (sm_90a only; see flashinfer_prefill.cuh).
#include "kernels/flashinfer_prefill.cuh"

namespace tg::kernels::detail {

template Status FlashInferRun<64>(const FlashInferRunParams& p, Stream stream);

}  // namespace tg::kernels::detail
