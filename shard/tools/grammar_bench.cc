// grammar-bench: what constrained decoding costs on the host, per vocabulary.
//   compile  time to compile each JSON Schema of the structured-output tests (cold cache)
//   mask     per token of a schema-valid answer (median of 20 runs): FillMask (xgrammar's bitmask)
//   + ApplyAllowedMask
//            on a logits row (the CPU sampler's step 0), and the accept of the token
// Usage: text-gen-grammar-bench TOKENIZER [TOKENIZER...]  (tokenizer.json, model dir or .gguf)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "router/tokenizer/tokenizer.h"
#include "shard/backend/sampling.h"
#include "shard/grammar/grammar_runtime.h"

namespace {

using tg::shard::grammar::GrammarKind;
using tg::shard::grammar::GrammarRuntime;
using Clock = std::chrono::steady_clock;

constexpr int kRepeats = 20;

double Us(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

double Median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + static_cast<long>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

struct Schema {
  const char* name;
  const char* schema;
  const char* answer;  // a valid instance, compact separators as the grammar emits them
};

const Schema kSchemas[] = {
    {"nested",
     R"({"type":"object","properties":{"name":{"type":"string","maxLength":20},"address":{"type":"object","properties":{"city":{"type":"string","maxLength":20},"zip":{"type":"string","pattern":"^[0-9]{5}$"}},"required":["city","zip"]}},"required":["name","address"]})",
     R"({"name": "Ada Lovelace", "address": {"city": "London", "zip": "12345"}})"},
    {"enum",
     R"({"type":"object","properties":{"color":{"enum":["red","green","blue"]},"size":{"type":"integer","minimum":1,"maximum":10}},"required":["color","size"]})",
     R"({"color": "green", "size": 7})"},
    {"array",
     R"({"type":"object","properties":{"tags":{"type":"array","items":{"type":"string","maxLength":10},"minItems":2,"maxItems":3}},"required":["tags"]})",
     R"({"tags": ["alpha", "beta", "gamma"]})"},
    {"refs",
     R"({"$defs":{"point":{"type":"object","properties":{"x":{"type":"integer"},"y":{"type":"integer"}},"required":["x","y"]}},"type":"object","properties":{"start":{"$ref":"#/$defs/point"},"end":{"$ref":"#/$defs/point"}},"required":["start","end"]})",
     R"({"start": {"x": 1, "y": -2}, "end": {"x": 30, "y": 4}})"},
    {"anyof",
     R"({"type":"object","properties":{"ok":{"type":"boolean"},"value":{"anyOf":[{"type":"integer"},{"type":"null"}]}},"required":["ok","value"]})",
     R"({"ok": true, "value": null})"},
};

void Run(const std::string& path) {
  const auto tok = tg::tokenizer::Tokenizer::Load(path);
  const int vocab = static_cast<int>(tok->vocab_size());
  std::vector<int32_t> stops;
  if (const auto eos = tok->eos_token()) {
    if (const auto id = tok->TokenToId(*eos)) stops.push_back(static_cast<int32_t>(*id));
  }
  GrammarRuntime runtime(path, vocab, stops);
  std::printf("%s: vocab %d\n", path.c_str(), vocab);
  auto t0 = Clock::now();
  (void)runtime.Start({GrammarKind::kJsonObject, ""});
  std::printf("  vocabulary + builtin JSON grammar: %.1f ms\n", Us(Clock::now() - t0) / 1e3);
  std::vector<float> logits(vocab);
  std::mt19937 rng(1);
  std::normal_distribution<float> normal;
  for (float& x : logits) x = normal(rng);
  for (const Schema& s : kSchemas) {
    t0 = Clock::now();
    auto matcher = runtime.Start({GrammarKind::kJsonSchema, s.schema});
    const double compile_ms = Us(Clock::now() - t0) / 1e3;
    const std::vector<uint32_t> ids = tok->Encode(s.answer, false);
    // Medians over repeated runs of the answer: the host is shared, single timings are noisy.
    std::vector<double> mask_us, apply_us, accept_us;
    for (int rep = 0; rep < kRepeats; ++rep) {
      if (rep > 0) matcher = runtime.Start({GrammarKind::kJsonSchema, s.schema});  // cached
      for (uint32_t id : ids) {
        const auto t1 = Clock::now();
        const auto mask = matcher->FillMask();
        const auto t2 = Clock::now();
        std::vector<float> row = logits;
        const auto t3 = Clock::now();
        tg::backend::ApplyAllowedMask(mask, row);
        const auto t4 = Clock::now();
        if (!matcher->Accept(static_cast<int32_t>(id))) {
          std::printf("  %s: answer token %u rejected\n", s.name, id);
          return;
        }
        const auto t5 = Clock::now();
        mask_us.push_back(Us(t2 - t1));
        apply_us.push_back(Us(t4 - t3));
        accept_us.push_back(Us(t5 - t4));
      }
    }
    std::printf(
        "  %-7s compile %7.1f ms | %3zu tokens, median per token: fill mask %6.1f us, "
        "apply %6.1f us, accept %5.1f us\n",
        s.name, compile_ms, ids.size(), Median(mask_us), Median(apply_us), Median(accept_us));
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s TOKENIZER [TOKENIZER...]\n", argv[0]);
    return 2;
  }
  for (int i = 1; i < argc; ++i) Run(argv[i]);
  return 0;
}
