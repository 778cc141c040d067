#include "tests/kernels/token_mask_bench.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <span>
#include <stdexcept>

#include "kernels/token_mask.h"
#include "router/tokenizer/tokenizer.h"
#include "shard/backend/cuda/cuda_backend.h"
#include "shard/grammar/grammar_runtime.h"
#include "tests/kernels/decode_bench.h"

namespace tg::backend {
namespace {

using Clock = std::chrono::steady_clock;
using shard::grammar::GrammarKind;
using shard::grammar::RequestMatcher;

constexpr int kRows = 64;

// A tool call's arguments (tests/grammar's weather tool) and a valid answer: the rows stand at
// different tokens of it, as requests of one batch do.
constexpr const char* kSchema =
    R"({"type":"object","properties":{"city":{"type":"string","maxLength":20},"unit":{"enum":["celsius","fahrenheit"]},"days":{"type":"array","items":{"type":"integer","minimum":1,"maximum":14},"maxItems":3}},"required":["city","unit","days"],"additionalProperties":false})";
constexpr const char* kAnswer =
    R"({"city": "Saint-Jean-de-Luz", "unit": "celsius", "days": [1, 2, 7]})";

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + static_cast<long>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

void Check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
}

// The logits width of a model with this tokenizer: its vocabulary rounded up to 128, as
// checkpoints pad it (Qwen3: 151,669 tokens, 151,936 logits).
int LogitsWidth(size_t tokens) { return static_cast<int>((tokens + 127) / 128 * 128); }

struct Rows {
  std::unique_ptr<shard::grammar::GrammarRuntime> runtime;
  std::vector<std::unique_ptr<RequestMatcher>> matchers;

  void Fill(std::vector<SampleRequest>& requests) {
    for (size_t r = 0; r < matchers.size(); ++r) requests[r].allowed = matchers[r]->FillMask();
  }
};

Rows StartRows(const std::string& path, int width) {
  const auto tok = tokenizer::Tokenizer::Load(path);
  std::vector<int32_t> stops;
  if (const auto eos = tok->eos_token()) {
    if (const auto id = tok->TokenToId(*eos)) stops.push_back(static_cast<int32_t>(*id));
  }
  Rows rows;
  rows.runtime = std::make_unique<shard::grammar::GrammarRuntime>(path, width, stops);
  const std::vector<uint32_t> ids = tok->Encode(kAnswer, false);
  for (int r = 0; r < kRows; ++r) {
    auto matcher = rows.runtime->Start({GrammarKind::kJsonSchema, kSchema});
    for (size_t i = 0; i < static_cast<size_t>(r) % ids.size(); ++i) {
      if (!matcher->Accept(static_cast<int32_t>(ids[i]))) {
        throw std::runtime_error("the answer's token " + std::to_string(i) + " was rejected");
      }
    }
    rows.matchers.push_back(std::move(matcher));
  }
  return rows;
}

// Sample of [kRows, width] random logits, plain and with the rows' masks, and the kernel alone.
struct SampleFigures {
  double fill_ms = 0, plain_ms = 0, masked_ms = 0, kernel_us = 0;
};

SampleFigures MeasureSample(Rows& rows, int width) {
  SampleFigures f;
  auto backend = MakeCudaBackend({.device = DeviceKind::kCuda});
  Tensor logits = backend->Allocate(DType::kF32, {kRows, width});
  std::vector<float> host(static_cast<size_t>(kRows) * width);
  std::mt19937 rng(1);
  std::normal_distribution<float> normal;
  for (float& x : host) x = normal(rng);
  std::vector<SampleRequest> plain(kRows), masked(kRows);
  std::vector<double> fill, plain_ms, masked_ms;
  for (int rep = 0; rep < 23; ++rep) {
    backend->CopyFromHost(host.data(), logits);  // Sample masks the logits in place
    backend->Synchronize();
    auto t0 = Clock::now();
    rows.Fill(masked);
    fill.push_back(Ms(Clock::now() - t0));
    t0 = Clock::now();
    backend->Sample(logits, plain);
    plain_ms.push_back(Ms(Clock::now() - t0));
    t0 = Clock::now();
    backend->Sample(logits, masked);
    masked_ms.push_back(Ms(Clock::now() - t0));
  }
  f.fill_ms = Median(fill);
  f.plain_ms = Median(plain_ms);
  f.masked_ms = Median(masked_ms);

  const int words = (width + 31) / 32;
  std::vector<int32_t> masks(static_cast<size_t>(kRows) * words);
  for (int r = 0; r < kRows; ++r) {
    std::copy_n(masked[r].allowed.begin(), words, masks.begin() + static_cast<size_t>(r) * words);
  }
  int32_t* device_masks = nullptr;
  Check(cudaMalloc(&device_masks, masks.size() * sizeof(int32_t)), "cudaMalloc");
  Check(cudaMemcpy(device_masks, masks.data(), masks.size() * sizeof(int32_t),
                   cudaMemcpyHostToDevice),
        "cudaMemcpy");
  const kernels::TokenMaskParams p{.logits = logits.data_as<float>(),
                                   .bitmask = device_masks,
                                   .rows = kRows,
                                   .vocab = width,
                                   .words = words};
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  const int reps = 100;
  for (int i = 0; i < 3; ++i) kernels::ApplyTokenMask(p, nullptr);
  cudaEventRecord(start);
  for (int i = 0; i < reps; ++i) {
    if (kernels::ApplyTokenMask(p, nullptr) != kernels::Status::kOk) {
      throw std::runtime_error("ApplyTokenMask failed");
    }
  }
  cudaEventRecord(stop);
  Check(cudaEventSynchronize(stop), "ApplyTokenMask");
  float ms = 0;
  cudaEventElapsedTime(&ms, start, stop);
  f.kernel_us = ms * 1e3 / reps;
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cudaFree(device_masks);
  return f;
}

}  // namespace

std::vector<std::string> RunTokenMaskBench(const std::vector<std::string>& tokenizers, int layers) {
  std::vector<std::string> lines;
  for (const std::string& path : tokenizers) {
    const int width = LogitsWidth(tokenizer::Tokenizer::Load(path)->vocab_size());
    Rows rows = StartRows(path, width);
    const SampleFigures sample = MeasureSample(rows, width);
    const std::vector<double> steps = DecodeStepMs(
        layers, kRows, width, {nullptr, [&rows](std::vector<SampleRequest>& r) { rows.Fill(r); }});
    char line[1024];
    std::snprintf(line, sizeof line,
                  "{\"name\": \"token_mask_bs%d\", \"tokenizer\": \"%s\", \"vocab\": %d, "
                  "\"layers\": %d, \"fill_ms\": %.3f, \"upload_apply_ms\": %.3f, "
                  "\"sample_ms\": %.3f, \"apply_kernel_us\": %.1f, \"step_ms\": %.3f, "
                  "\"masked_step_ms\": %.3f, \"overhead\": %.4f}",
                  kRows, path.c_str(), width, layers, sample.fill_ms,
                  sample.masked_ms - sample.plain_ms, sample.plain_ms, sample.kernel_us, steps[0],
                  steps[1], steps[1] / steps[0] - 1.0);
    std::printf("%s\n", line);
    std::fflush(stdout);
    lines.emplace_back(line);
  }
  return lines;
}

}  // namespace tg::backend
