// text-gen-shard-bench: generation speed of a model on a backend, in process (no gRPC), for one
// sequence or a batch of identical ones, plus the machine's read bandwidth, to say what fraction
// of it decode reaches.
//
//   text-gen-shard-bench --model-id model.gguf --prompt-ids 1,2,3 --max-new-tokens 64 --batch-size
//   8
// Prints the greedy continuation's ids and the timings, in wall time and in process CPU time (all
// threads): on a machine shared with other busy processes, CPU time per token is the steadier
// measure of the code itself. (The shard layer has no tokenizer: the router owns it; use
// text-gen-tokenize for ids.)
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <numeric>
#include <sstream>
#include <thread>
#include <vector>

#include "common/error.h"
#include "common/flags.h"
#include "common/logging.h"
#include "model_files/weight_source.h"
#include "shard/backend/backend.h"
#include "shard/engine/engine.h"
#include "shard/models/llama.h"

namespace tg::shard {
namespace {

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

// User + system CPU seconds of every thread of this process so far.
double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// Read bandwidth of `threads` threads summing a buffer much larger than the caches (GB/s).
// Integer sums vectorise without fast-math, so the loop is limited by memory, not by adds.
double MeasureReadBandwidth(int threads) {
  const size_t words = size_t{128} << 20;  // 1 GiB of uint64
  std::vector<uint64_t> buffer(words, 1);
  double best = 0;
  uint64_t checksum = 0;
  for (int repeat = 0; repeat < 5; ++repeat) {
    std::vector<uint64_t> sums(threads);
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        const size_t begin = words * t / threads, end = words * (t + 1) / threads;
        sums[t] = std::accumulate(buffer.begin() + begin, buffer.begin() + end, uint64_t{0});
      });
    }
    for (std::thread& w : workers) w.join();
    best = std::max(best, static_cast<double>(words * sizeof(uint64_t)) / Seconds(start) / 1e9);
    for (uint64_t s : sums) checksum += s;
  }
  if (checksum != 5 * words) throw Error(ErrorKind::kInternal, "bandwidth checksum mismatch");
  return best;
}

std::vector<int32_t> ParseIds(const std::string& list) {
  std::vector<int32_t> ids;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) ids.push_back(std::stoi(item));
  }
  return ids;
}

int Run(int argc, char** argv) {
  std::string model_id, dtype_name = "bfloat16", prompt_ids;
  int threads = 0;
  uint32_t max_new_tokens = 64;
  uint32_t batch_size = 1;
  std::string block_weights = "keep";
  bool bandwidth = false;
  FlagParser flags("text-gen-shard-bench", "Single-stream generation speed of one shard.");
  flags.Add("model-id", &model_id, "HF directory or .gguf", {.required = true});
  flags.Add("dtype", &dtype_name, "float32, bfloat16 or float16 weights");
  flags.Add("threads", &threads, "CPU threads (0: all cores)");
  flags.Add("prompt-ids", &prompt_ids, "comma-separated prompt token ids");
  flags.Add("max-new-tokens", &max_new_tokens, "tokens to generate");
  flags.Add("block-weights", &block_weights,
            "keep (compute on GGUF Q8_0/Q4_0/Q4_1 blocks where the backend can) or dequantize");
  flags.Add("batch-size", &batch_size, "identical sequences prefilled and decoded as one batch");
  flags.Add("measure-bandwidth", &bandwidth, "also measure the machine's read bandwidth");
  if (flags.Parse(argc, argv) != ParseResult::kRun) {
    std::cout << flags.Help();
    return 0;
  }
  InitLogging({.component = "bench", .level = "warn"});

  std::vector<int32_t> ids = ParseIds(prompt_ids);
  TG_CHECK(!ids.empty(), kInvalidArgument, "give --prompt-ids");

  auto device = backend::MakeCpuBackend({.threads = threads});
  const auto load_start = std::chrono::steady_clock::now();
  auto source = model::WeightSource::Open(model_id);
  LlamaModel model(source->config(), *source, *device, backend::ParseFloatDType(dtype_name),
                   ParseBlockWeights(block_weights));
  source.reset();
  const double load_s = Seconds(load_start);
  Engine engine(model, *device, {});
  TG_CHECK(batch_size >= 1, kInvalidArgument, "--batch-size must be at least 1");
  const uint32_t total = static_cast<uint32_t>(ids.size()) + max_new_tokens;
  const uint32_t blocks_per_seq = (total + kBlockSize - 1) / kBlockSize;
  engine.Warmup({.max_input_tokens = static_cast<uint32_t>(ids.size()),
                 .max_total_tokens = total,
                 .max_batch_total_tokens = batch_size * blocks_per_seq * kBlockSize + kBlockSize});

  std::vector<RequestSpec> specs(batch_size);
  for (uint32_t i = 0; i < batch_size; ++i) {
    specs[i].id = i + 1;
    specs[i].input_ids = ids;
    specs[i].max_new_tokens = max_new_tokens;
    specs[i].ignore_eos = true;
    for (uint32_t b = 0; b < blocks_per_seq; ++b) specs[i].blocks.push_back(i * blocks_per_seq + b);
  }
  const auto prefill_start = std::chrono::steady_clock::now();
  const double prefill_cpu_start = CpuSeconds();
  StepOutput step = engine.Prefill(1, specs);
  const double prefill_s = Seconds(prefill_start);
  const double prefill_cpu_s = CpuSeconds() - prefill_cpu_start;
  std::vector<uint32_t> generated = {static_cast<uint32_t>(step.generations.at(0).token.id)};
  uint64_t decoded = 0;
  const auto decode_start = std::chrono::steady_clock::now();
  const double decode_cpu_start = CpuSeconds();
  while (step.batch.has_value()) {
    step = engine.Decode({1});
    decoded += step.generations.size();
    generated.push_back(static_cast<uint32_t>(step.generations.at(0).token.id));
  }
  const double decode_s = Seconds(decode_start);
  const double decode_cpu_s = CpuSeconds() - decode_cpu_start;
  const double decode_tps = static_cast<double>(decoded) / decode_s;
  const double prompt_tokens = static_cast<double>(ids.size()) * batch_size;

  std::cout << "device: " << device->DeviceName() << "\n";
  std::cout << "weights: " << dtype_name << ", " << model.weight_bytes() / 1e6 << " MB, loaded in "
            << load_s << " s\n";
  std::cout << "prompt: " << batch_size << " x " << ids.size() << " tokens, prefill "
            << prefill_s * 1e3 << " ms (" << prompt_tokens / prefill_s << " tokens/s; "
            << prefill_cpu_s * 1e3 / prompt_tokens << " CPU ms/token)\n";
  std::cout << "decode: " << decoded << " tokens (" << batch_size << " sequences) in " << decode_s
            << " s = " << decode_tps << " tokens/s, "
            << decode_tps / batch_size * model.weight_bytes() / 1e9 << " GB/s of weights; "
            << decode_cpu_s * 1e3 / static_cast<double>(decoded) << " CPU ms/token\n";
  if (bandwidth) {
    const int n = threads > 0 ? threads : static_cast<int>(std::thread::hardware_concurrency());
    const double gbps = MeasureReadBandwidth(n);
    std::cout << "machine read bandwidth (" << n << " threads): " << gbps << " GB/s; decode uses "
              << 100.0 * decode_tps / batch_size * model.weight_bytes() / 1e9 / gbps << "%\n";
  }
  std::cout << "ids:";
  for (uint32_t id : generated) std::cout << " " << id;
  std::cout << "\n";
  return 0;
}

}  // namespace
}  // namespace tg::shard

int main(int argc, char** argv) {
  try {
    return tg::shard::Run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "text-gen-shard-bench: %s\n", e.what());
    return 1;
  }
}
