// FlashInfer's paged decode over a bfloat16 cache into bf16 outputs (the decode rows of a mixed
// step), head sizes 64 and 128 (flashinfer_decode.cuh); a file of its own so that it compiles in
// parallel with the float32-output ones.
#include "kernels/flashinfer_decode.cuh"

namespace tg::kernels::detail {

template Status FlashInferDecodeRun<DType::kBFloat16, DType::kBFloat16, 64>(
    const FlashInferDecodeRunParams& p, Stream stream);
template Status FlashInferDecodeRun<DType::kBFloat16, DType::kBFloat16, 128>(
    const FlashInferDecodeRunParams& p, Stream stream);

}  // namespace tg::kernels::detail
