// What constrained decoding costs per decode step on the GPU at batch 64 (cuda_bench
// --token-masks): every row constrained by a JSON Schema, its allowed-token mask filled on the
// host by xgrammar (shard/grammar's GrammarRuntime, one thread, as the engine does between a
// step's enqueue and its sampling), then uploaded and applied by kernels/token_mask.cu inside
// the backend's Sample. One JSON object per vocabulary (also printed, one a line):
//   fill_ms           the 64 masks filled on the host
//   upload_apply_ms   Sample of [64, vocab] logits with the 64 masks minus without (the masks'
//                     packing, upload and kernel)
//   apply_kernel_us   the kernel alone, on the device
//   step_ms           a decode step without masks: the Llama-3-8B shape with `layers` layers and
//                     this vocabulary's lm_head, CUDA graph, greedy sampling
//   masked_step_ms    the same step with the masks filled after the replay is enqueued (the host
//                     work overlaps the device's) and applied in Sample
//   overhead          masked_step_ms / step_ms - 1 (issue 24 asks for at most 0.10)
#pragma once

#include <string>
#include <vector>

namespace tg::backend {

// `tokenizers`: tokenizer.json files, model directories or .gguf files (vocab-only ones too).
std::vector<std::string> RunTokenMaskBench(const std::vector<std::string>& tokenizers, int layers);

}  // namespace tg::backend
