#include "shard/backend/cpu/cpu_backend.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "common/error.h"
#include "shard/backend/cpu/dot_kernels.h"
#include "shard/backend/cpu/quant_kernels.h"
#include "shard/backend/cpu/row_blocking.h"
#include "shard/backend/kv_cache_dtype.h"

namespace tg::backend::cpu {
namespace {

// A macro, so the message (tensor descriptions, numbers) is built only when the check fails:
// these checks run for every op of every forward, some for every token or block.
#define CPU_EXPECT(ok, what) TG_CHECK(ok, kInvalidArgument, std::string("cpu backend: ") + (what))

// Functions, so they take the caller's file and line (std::source_location) for the error.
void ExpectDType(const Tensor& t, DType dtype, const char* name, std::source_location where) {
  if (t.dtype() == dtype) [[likely]]
    return;  // the message is only built on failure (hot path)
  throw Error(ErrorKind::kInvalidArgument,
              std::string("cpu backend: ") + name + " must be " + ToString(dtype) + ", got " +
                  t.DebugString(),
              where);
}

void ExpectF32(const Tensor& t, const char* name,
               std::source_location where = std::source_location::current()) {
  ExpectDType(t, DType::kF32, name, where);
}

void ExpectI32(const Tensor& t, const char* name,
               std::source_location where = std::source_location::current()) {
  ExpectDType(t, DType::kI32, name, where);
}

// Below this many multiply-adds per chunk, waking another thread costs more than it saves.
constexpr int64_t kMinWorkPerChunk = 32768;

int64_t GrainFor(int64_t work_per_item) {
  return std::max<int64_t>(1, kMinWorkPerChunk / std::max<int64_t>(1, work_per_item));
}

int64_t LastDim(const Tensor& t) { return t.rank() == 0 ? 1 : t.dim(-1); }
int64_t LeadingRows(const Tensor& t) { return t.numel() / std::max<int64_t>(1, LastDim(t)); }

std::string ReadCpuModel() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "unknown CPU";
}

// Attention of one query vector against positions [0, kv_len) of one sequence's paged cache.
// q.k goes through the vectorised float32 dot kernel: a plain loop would be one serial chain of
// scalar adds (no reassociation without -ffast-math), and decode spends most of its attention
// time there.
void AttendOne(DotRowsFn dot, const float* q, const float* k_cache, const float* v_cache,
               const int32_t* blocks, int block_size, int hk, int d, int kv_head, int kv_len,
               float scale, float* scores, float* out) {
  float max_score = -INFINITY;
  for (int p = 0; p < kv_len; ++p) {
    const int64_t slot = static_cast<int64_t>(blocks[p / block_size]) * block_size + p % block_size;
    const float* k = k_cache + (slot * hk + kv_head) * d;
    float qk = 0.0f;
    dot(k, q, d, 1, d, &qk);
    scores[p] = qk * scale;
    max_score = std::max(max_score, scores[p]);
  }
  float sum = 0.0f;
  for (int p = 0; p < kv_len; ++p) {
    scores[p] = std::exp(scores[p] - max_score);
    sum += scores[p];
  }
  const float inv_sum = 1.0f / sum;
  std::fill(out, out + d, 0.0f);
  for (int p = 0; p < kv_len; ++p) {
    const int64_t slot = static_cast<int64_t>(blocks[p / block_size]) * block_size + p % block_size;
    const float* v = v_cache + (slot * hk + kv_head) * d;
    const float weight = scores[p] * inv_sum;
    for (int i = 0; i < d; ++i) out[i] += weight * v[i];
  }
}

}  // namespace

CpuBackend::CpuBackend(const BackendOptions& options)
    : pool_(options.threads), arena_(HostArena::Create()) {}

std::string CpuBackend::DeviceName() const {
  return ReadCpuModel() + " (" + std::to_string(pool_.size()) + " threads, " + DotKernelIsa() + ")";
}

bool CpuBackend::ComputesOnBlocks(DType dtype) const {
  return SelectQuantDotRows(dtype) != nullptr;
}

uint64_t CpuBackend::FreeMemoryBytes() const {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  uint64_t kb = 0;
  std::string unit;
  while (meminfo >> key >> kb >> unit) {
    if (key == "MemAvailable:") return kb * 1024;
  }
  const long pages = sysconf(_SC_AVPHYS_PAGES);
  return static_cast<uint64_t>(std::max(0L, pages)) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

Tensor CpuBackend::Allocate(DType dtype, std::vector<int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    CPU_EXPECT(d >= 0, "negative dimension");
    n *= d;
  }
  // 64-byte aligned (the vector loads), on huge pages when large (host_arena.h says why).
  std::shared_ptr<void> storage = arena_->Allocate(static_cast<size_t>(DTypeBytes(dtype, n)));
  void* data = storage.get();
  return Tensor(std::move(storage), data, dtype, std::move(shape), DeviceKind::kCpu);
}

void CpuBackend::CopyFromHost(const void* src, Tensor& dst) {
  if (dst.bytes() > 0) std::memcpy(dst.data(), src, dst.bytes());
}

void CpuBackend::CopyToHost(const Tensor& src, void* dst) {
  if (src.bytes() > 0) std::memcpy(dst, src.data(), src.bytes());
}

void CpuBackend::Embedding(const Tensor& table, const Tensor& ids, Tensor& out) {
  ExpectI32(ids, "ids");
  ExpectF32(out, "out");
  const int64_t n = ids.numel(), hidden = LastDim(table), vocab = LeadingRows(table);
  CPU_EXPECT(out.numel() == n * hidden, "embedding out shape " + out.DebugString());
  const int32_t* id = ids.data_as<int32_t>();
  for (int64_t t = 0; t < n; ++t) {
    if (id[t] < 0 || id[t] >= vocab) {
      throw Error(ErrorKind::kInvalidArgument,
                  "token id " + std::to_string(id[t]) + " outside the vocabulary");
    }
  }
  float* dst = out.data_as<float>();
  pool_.ParallelFor(n, GrainFor(hidden), [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t base = static_cast<int64_t>(id[t]) * hidden;
      for (int64_t i = 0; i < hidden; ++i) {
        dst[t * hidden + i] = LoadAsFloat(table.data(), table.dtype(), base + i);
      }
    }
  });
}

void CpuBackend::RmsNorm(const Tensor& input, Tensor* residual, const Tensor& weight, float eps,
                         Tensor& out) {
  ExpectF32(input, "input");
  ExpectF32(out, "out");
  const int64_t h = LastDim(input), rows = LeadingRows(input);
  CPU_EXPECT(weight.numel() == h && out.numel() == input.numel(), "rmsnorm shapes");
  if (residual != nullptr) {
    ExpectF32(*residual, "residual");
    CPU_EXPECT(residual->numel() == input.numel(), "residual shape");
  }
  const float* in = input.data_as<float>();
  float* res = residual != nullptr ? residual->data_as<float>() : nullptr;
  float* dst = out.data_as<float>();
  pool_.ParallelFor(rows, GrainFor(4 * h), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* x = in + r * h;
      if (res != nullptr) {
        float* acc = res + r * h;
        for (int64_t i = 0; i < h; ++i) acc[i] += x[i];
        x = acc;
      }
      float sum_sq = 0.0f;
      for (int64_t i = 0; i < h; ++i) sum_sq += x[i] * x[i];
      const float inv_rms = 1.0f / std::sqrt(sum_sq / static_cast<float>(h) + eps);
      for (int64_t i = 0; i < h; ++i) {
        dst[r * h + i] = (x[i] * inv_rms) * LoadAsFloat(weight.data(), weight.dtype(), i);
      }
    }
  });
}

void CpuBackend::Linear(const Tensor& x, const Tensor& weight, const Tensor* bias, Tensor& out) {
  ExpectF32(x, "x");
  ExpectF32(out, "out");
  CPU_EXPECT(weight.rank() == 2, "weight must be 2-D, got " + weight.DebugString());
  const int64_t k = weight.dim(1), n_out = weight.dim(0);
  const int64_t rows = x.numel() / std::max<int64_t>(1, k);
  CPU_EXPECT(LastDim(x) == k && out.numel() == rows * n_out, "linear shapes x " + x.DebugString() +
                                                                 " w " + weight.DebugString() +
                                                                 " out " + out.DebugString());
  if (bias != nullptr) {
    ExpectF32(*bias, "bias");
    CPU_EXPECT(bias->numel() == n_out, "bias shape");
  }
  if (IsBlockDType(weight.dtype())) {
    LinearOnBlocks(x, weight, bias != nullptr ? bias->data_as<float>() : nullptr, rows, out);
    return;
  }
  const DotRowsFn dot = SelectDotRows(weight.dtype());
  const size_t w_row_bytes = static_cast<size_t>(k) * DTypeSize(weight.dtype());
  const char* w = static_cast<const char*>(weight.data());
  const float* xs = x.data_as<float>();
  const float* b = bias != nullptr ? bias->data_as<float>() : nullptr;
  float* dst = out.data_as<float>();
  pool_.ParallelFor(
      n_out, std::max<int64_t>(16, GrainFor(k * rows)), [&](int64_t begin, int64_t end) {
        ForEachRowGroup<kMaxDotRows>(begin, end, rows, n_out, b, dst,
                                     [&](int64_t o, int64_t t, int group, float* vals) {
                                       dot(w + o * w_row_bytes, xs + t * k, k, group, k, vals);
                                     });
      });
}

void CpuBackend::LinearOnBlocks(const Tensor& x, const Tensor& weight, const float* bias,
                                int64_t rows, Tensor& out) {
  const QuantDotRowsFn dot = SelectQuantDotRows(weight.dtype());
  CPU_EXPECT(dot != nullptr, std::string("no ") + ToString(weight.dtype()) +
                                 " kernel on this CPU (ComputesOnBlocks is false)");
  const int64_t k = weight.dim(1), n_out = weight.dim(0);
  CPU_EXPECT(k % kQuantBlock == 0, "block weight rows must be whole blocks");
  const int64_t blocks = k / kQuantBlock;
  x_codes_.resize(static_cast<size_t>(rows * k));
  x_scales_.resize(static_cast<size_t>(rows * blocks));
  x_sums_.resize(static_cast<size_t>(rows * blocks));
  const float* xs = x.data_as<float>();
  const CodeOrder order = CodeOrderFor(weight.dtype());
  pool_.ParallelFor(rows, GrainFor(4 * k), [&](int64_t begin, int64_t end) {
    QuantizeActivations(xs + begin * k, end - begin, k, order, x_codes_.data() + begin * k,
                        x_scales_.data() + begin * blocks, x_sums_.data() + begin * blocks);
  });
  const QuantizedActivations xq{x_codes_.data(), x_scales_.data(), x_sums_.data(), k, order};
  const size_t w_row_bytes = DTypeBytes(weight.dtype(), k);
  const char* w = static_cast<const char*>(weight.data());
  float* dst = out.data_as<float>();
  pool_.ParallelFor(
      n_out, std::max<int64_t>(16, GrainFor(k * rows)), [&](int64_t begin, int64_t end) {
        ForEachRowGroup<kMaxQuantDotRows>(begin, end, rows, n_out, bias, dst,
                                          [&](int64_t o, int64_t t, int group, float* vals) {
                                            dot(w + o * w_row_bytes, xq, t, group, vals);
                                          });
      });
}

void CpuBackend::Rotary(Tensor& q, Tensor& k, const Tensor& positions, const Tensor& inv_freq) {
  ExpectF32(q, "q");
  ExpectF32(k, "k");
  ExpectI32(positions, "positions");
  ExpectF32(inv_freq, "inv_freq");
  CPU_EXPECT(q.rank() == 3 && k.rank() == 3 && q.dim(0) == k.dim(0) && q.dim(2) == k.dim(2),
             "rotary shapes q " + q.DebugString() + " k " + k.DebugString());
  const int64_t n = q.dim(0), hq = q.dim(1), hk = k.dim(1), d = q.dim(2), half = d / 2;
  CPU_EXPECT(positions.numel() == n && inv_freq.numel() == half, "rotary positions/inv_freq");
  const int32_t* pos = positions.data_as<int32_t>();
  const float* freq = inv_freq.data_as<float>();
  float* qs = q.data_as<float>();
  float* ks = k.data_as<float>();
  pool_.ParallelFor(n, GrainFor(4 * (hq + hk) * d), [&](int64_t begin, int64_t end) {
    std::vector<float> cos_t(half), sin_t(half);
    for (int64_t t = begin; t < end; ++t) {
      for (int64_t i = 0; i < half; ++i) {
        const float angle = static_cast<float>(pos[t]) * freq[i];
        cos_t[i] = std::cos(angle);
        sin_t[i] = std::sin(angle);
      }
      auto rotate = [&](float* x) {
        for (int64_t i = 0; i < half; ++i) {
          const float x0 = x[i], x1 = x[i + half];
          x[i] = x0 * cos_t[i] - x1 * sin_t[i];
          x[i + half] = x1 * cos_t[i] + x0 * sin_t[i];
        }
      };
      for (int64_t h = 0; h < hq; ++h) rotate(qs + (t * hq + h) * d);
      for (int64_t h = 0; h < hk; ++h) rotate(ks + (t * hk + h) * d);
    }
  });
}

void CpuBackend::WriteKv(const Tensor& k, const Tensor& v, const Tensor& slots, Tensor& k_cache,
                         Tensor& v_cache) {
  ExpectF32(k, "k");
  ExpectF32(v, "v");
  ExpectI32(slots, "slots");
  ExpectF32(k_cache, "k_cache");
  ExpectF32(v_cache, "v_cache");
  CPU_EXPECT(k_cache.rank() == 4 && k.rank() == 3, "kv cache shapes");
  const int64_t n = k.dim(0), row = k.dim(1) * k.dim(2);
  const int64_t num_slots = k_cache.dim(0) * k_cache.dim(1);
  CPU_EXPECT(slots.numel() == n && k_cache.dim(2) * k_cache.dim(3) == row, "write_kv shapes");
  const int32_t* slot = slots.data_as<int32_t>();
  for (int64_t t = 0; t < n; ++t) {
    if (slot[t] < 0) continue;  // padding
    CPU_EXPECT(slot[t] < num_slots, "slot " + std::to_string(slot[t]) + " outside the cache");
    std::memcpy(k_cache.data_as<float>() + slot[t] * row, k.data_as<float>() + t * row,
                row * sizeof(float));
    std::memcpy(v_cache.data_as<float>() + slot[t] * row, v.data_as<float>() + t * row,
                row * sizeof(float));
  }
}

void CpuBackend::PrefillAttention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                                  const AttentionBatch& batch, float scale, Tensor& out) {
  ExpectF32(q, "q");
  ExpectF32(out, "out");
  CPU_EXPECT(q.rank() == 3 && k_cache.rank() == 4 && q.dim(0) == batch.num_tokens,
             "attention shapes q " + q.DebugString());
  const int hq = static_cast<int>(q.dim(1)), d = static_cast<int>(q.dim(2));
  const int hk = static_cast<int>(k_cache.dim(2));
  CPU_EXPECT(hq % hk == 0 && k_cache.dim(3) == d, "attention heads");
  const int group = hq / hk;
  const int32_t* start = batch.query_start.data_as<int32_t>();
  const int32_t* seq_lens = batch.seq_lens.data_as<int32_t>();
  const int32_t* tables = batch.block_tables.data_as<int32_t>();
  const int64_t max_blocks = batch.block_tables.dim(1);
  const int64_t num_blocks = k_cache.dim(0);
  if (batch.HasHostLengths()) {
    CPU_EXPECT(std::equal(batch.host_query_start.begin(), batch.host_query_start.end(), start) &&
                   std::equal(batch.host_seq_lens.begin(), batch.host_seq_lens.end(), seq_lens),
               "attention host lengths differ from query_start / seq_lens");
  }
  for (int s = 0; s < batch.num_seqs; ++s) {
    const int64_t needed = (seq_lens[s] + batch.block_size - 1) / batch.block_size;
    CPU_EXPECT(needed <= max_blocks, "sequence longer than its block table");
    for (int64_t b = 0; b < needed; ++b) {
      const int32_t id = tables[s * max_blocks + b];
      CPU_EXPECT(id >= 0 && id < num_blocks,
                 "block id " + std::to_string(id) + " outside the cache");
    }
  }
  const DotRowsFn dot = SelectDotRows(DType::kF32);
  // One work item per (token, head); the token's sequence is found by binary search.
  const int64_t items = static_cast<int64_t>(batch.num_tokens) * hq;
  pool_.ParallelFor(
      items, GrainFor(2 * d * std::max(1, batch.max_seq_len)), [&](int64_t begin, int64_t end) {
        std::vector<float> scores(std::max(1, batch.max_seq_len));
        for (int64_t item = begin; item < end; ++item) {
          const int t = static_cast<int>(item / hq), h = static_cast<int>(item % hq);
          const int s =
              static_cast<int>(std::upper_bound(start, start + batch.num_seqs + 1, t) - start) - 1;
          const int q_len = start[s + 1] - start[s];
          const int position = seq_lens[s] - q_len + (t - start[s]);
          if (static_cast<int>(scores.size()) < position + 1) scores.resize(position + 1);
          AttendOne(dot, q.data_as<float>() + item * d, k_cache.data_as<float>(),
                    v_cache.data_as<float>(), tables + s * max_blocks, batch.block_size, hk, d,
                    h / group, position + 1, scale, scores.data(), out.data_as<float>() + item * d);
        }
      });
}

void CpuBackend::DecodeAttention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                                 const AttentionBatch& batch, float scale, Tensor& out) {
  CPU_EXPECT(batch.num_tokens == batch.num_seqs, "decode attention takes one token per sequence");
  PrefillAttention(q, k_cache, v_cache, batch, scale, out);
}

void CpuBackend::SplitColumns(const Tensor& input, std::span<Tensor* const> outs) {
  ExpectF32(input, "input");
  const int64_t rows = LeadingRows(input), width = LastDim(input);
  int64_t covered = 0;
  for (Tensor* out : outs) {
    ExpectF32(*out, "out");
    CPU_EXPECT(LeadingRows(*out) == rows, "SplitColumns rows");
    covered += LastDim(*out);
  }
  CPU_EXPECT(!outs.empty() && outs.size() <= 4 && covered == width, "SplitColumns widths");
  const float* in = input.data_as<float>();
  pool_.ParallelFor(rows, GrainFor(width), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      int64_t offset = 0;
      for (Tensor* out : outs) {
        const int64_t w = LastDim(*out);
        std::memcpy(out->data_as<float>() + r * w, in + r * width + offset, w * sizeof(float));
        offset += w;
      }
    }
  });
}

void CpuBackend::SiluAndMul(const Tensor& gate_up, Tensor& out) {
  ExpectF32(gate_up, "gate_up");
  ExpectF32(out, "out");
  const int64_t inter = LastDim(out), rows = LeadingRows(out);
  CPU_EXPECT(gate_up.numel() == 2 * out.numel() && LastDim(gate_up) == 2 * inter, "silu_and_mul");
  const float* in = gate_up.data_as<float>();
  float* dst = out.data_as<float>();
  pool_.ParallelFor(rows, GrainFor(8 * inter), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* gate = in + r * 2 * inter;
      const float* up = gate + inter;
      for (int64_t i = 0; i < inter; ++i) {
        dst[r * inter + i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
      }
    }
  });
}

std::vector<SampleResult> CpuBackend::Sample(const Tensor& logits,
                                             std::span<const SampleRequest> requests) {
  ExpectF32(logits, "logits");
  const int64_t vocab = LastDim(logits);
  CPU_EXPECT(LeadingRows(logits) == static_cast<int64_t>(requests.size()), "sample rows");
  std::vector<SampleResult> results(requests.size());
  pool_.ParallelFor(static_cast<int64_t>(requests.size()), 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      results[r] =
          SampleRow({logits.data_as<float>() + r * vocab, static_cast<size_t>(vocab)}, requests[r]);
    }
  });
  return results;
}

std::vector<float> CpuBackend::TokenLogprobs(const Tensor& logits,
                                             std::span<const int32_t> targets) {
  ExpectF32(logits, "logits");
  const int64_t vocab = LastDim(logits);
  CPU_EXPECT(LeadingRows(logits) == static_cast<int64_t>(targets.size()), "logprob rows");
  std::vector<float> out(targets.size());
  for (size_t r = 0; r < targets.size(); ++r) {
    out[r] =
        TokenLogprob({logits.data_as<float>() + r * vocab, static_cast<size_t>(vocab)}, targets[r]);
  }
  return out;
}

}  // namespace tg::backend::cpu

namespace tg::backend {

std::unique_ptr<Backend> MakeCpuBackend(const BackendOptions& options) {
  ResolveKvCacheDType(DeviceKind::kCpu, options.kv_cache_dtype);  // throws unless float32/auto
  return std::make_unique<cpu::CpuBackend>(options);
}

}  // namespace tg::backend
