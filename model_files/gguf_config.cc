// GGUF metadata -> ModelConfig, and GGUF tensor names -> HF tensor names.
#include <algorithm>
#include <charconv>

#include "common/error.h"
#include "model_files/gguf.h"

namespace tg::model {

namespace {

struct ArchInfo {
  const char* gguf_arch;
  const char* model_type;
  const char* hf_architecture;
};

// GGUF files of Mistral models use the "llama" architecture.
constexpr ArchInfo kArchs[] = {
    {"llama", "llama", "LlamaForCausalLM"},
    {"qwen2", "qwen2", "Qwen2ForCausalLM"},
    {"qwen3", "qwen3", "Qwen3ForCausalLM"},
};

}  // namespace

ModelConfig ModelConfigFromGguf(const GgufFile& f) {
  const std::string arch = f.GetString("general.architecture");
  const ArchInfo* info = nullptr;
  for (const auto& a : kArchs) {
    if (arch == a.gguf_arch) info = &a;
  }
  if (info == nullptr) {
    throw Error(ErrorKind::kUnsupported,
                f.origin() + ": unsupported architecture \"" + arch +
                    "\"; supported GGUF architectures: llama, qwen2, qwen3");
  }
  const std::string p = arch + ".";
  ModelConfig c;
  c.model_type = info->model_type;
  c.architecture = info->hf_architecture;
  c.hidden_size = f.GetU32(p + "embedding_length");
  c.intermediate_size = f.GetU32(p + "feed_forward_length");
  c.num_hidden_layers = f.GetU32(p + "block_count");
  c.num_attention_heads = f.GetU32(p + "attention.head_count");
  c.num_key_value_heads =
      f.TryGetU32(p + "attention.head_count_kv").value_or(c.num_attention_heads);
  TG_CHECK(c.num_attention_heads > 0, kCorruptFile, f.origin() + ": attention.head_count is 0");
  c.head_dim =
      f.TryGetU32(p + "attention.key_length").value_or(c.hidden_size / c.num_attention_heads);
  c.max_position_embeddings = f.TryGetU32(p + "context_length").value_or(2048);
  c.rms_norm_eps = f.TryGetF32(p + "attention.layer_norm_rms_epsilon").value_or(1e-6f);
  c.rope_theta = f.TryGetF32(p + "rope.freq_base").value_or(10000.0f);
  if (auto type = f.TryGetString(p + "rope.scaling.type"); type && *type != "none") {
    c.rope_scaling.type = *type;
    c.rope_scaling.factor = f.TryGetF32(p + "rope.scaling.factor").value_or(1.0f);
    c.rope_scaling.original_max_position_embeddings =
        f.TryGetU32(p + "rope.scaling.original_context_length").value_or(0);
    if (auto a = f.TryGetF32(p + "rope.scaling.attn_factor")) c.rope_scaling.attention_factor = *a;
  }
  if (auto w = f.TryGetU32(p + "attention.sliding_window")) c.sliding_window = *w;
  // The embedding matrix is the truth for the vocabulary size (the token list may be padded).
  if (const auto* emb = f.FindTensor("token_embd.weight")) {
    c.vocab_size = static_cast<uint32_t>(emb->shape[0]);
  } else if (f.HasKey("tokenizer.ggml.tokens")) {
    c.vocab_size = static_cast<uint32_t>(f.ArraySize("tokenizer.ggml.tokens"));
  } else {
    c.vocab_size = f.TryGetU32(p + "vocab_size").value_or(0);
  }
  c.tie_word_embeddings = f.FindTensor("output.weight") == nullptr;
  c.attention_bias = f.FindTensor("blk.0.attn_q.bias") != nullptr;
  c.qk_norm = f.FindTensor("blk.0.attn_q_norm.weight") != nullptr;
  c.bos_token_id = f.TryGetU32("tokenizer.ggml.bos_token_id");
  for (const char* key : {"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id"}) {
    if (auto id = f.TryGetU32(key)) {
      if (std::find(c.eos_token_ids.begin(), c.eos_token_ids.end(), *id) == c.eos_token_ids.end()) {
        c.eos_token_ids.push_back(*id);
      }
    }
  }
  ValidateModelConfig(c, f.origin());
  return c;
}

std::optional<std::string> GgufToHfName(std::string_view name) {
  static const std::pair<const char*, const char*> kGlobal[] = {
      {"token_embd.weight", "model.embed_tokens.weight"},
      {"output_norm.weight", "model.norm.weight"},
      {"output.weight", "lm_head.weight"},
  };
  for (const auto& [g, h] : kGlobal) {
    if (name == g) return std::string(h);
  }
  constexpr std::string_view kBlk = "blk.";
  if (!name.starts_with(kBlk)) return std::nullopt;
  std::string_view rest = name.substr(kBlk.size());
  const size_t dot = rest.find('.');
  if (dot == std::string_view::npos || dot == 0) return std::nullopt;
  uint32_t layer = 0;
  const auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + dot, layer);
  if (ec != std::errc() || ptr != rest.data() + dot) return std::nullopt;
  std::string_view tail = rest.substr(dot + 1);  // e.g. "attn_q.weight"
  const size_t last = tail.rfind('.');
  if (last == std::string_view::npos) return std::nullopt;
  const std::string_view part = tail.substr(0, last), suffix = tail.substr(last);  // ".weight"
  static const std::pair<const char*, const char*> kLayer[] = {
      {"attn_norm", "input_layernorm"},    {"attn_q", "self_attn.q_proj"},
      {"attn_k", "self_attn.k_proj"},      {"attn_v", "self_attn.v_proj"},
      {"attn_output", "self_attn.o_proj"}, {"attn_q_norm", "self_attn.q_norm"},
      {"attn_k_norm", "self_attn.k_norm"}, {"ffn_norm", "post_attention_layernorm"},
      {"ffn_gate", "mlp.gate_proj"},       {"ffn_up", "mlp.up_proj"},
      {"ffn_down", "mlp.down_proj"},
  };
  for (const auto& [g, h] : kLayer) {
    if (part == g) {
      return "model.layers." + std::to_string(layer) + "." + h + std::string(suffix);
    }
  }
  return std::nullopt;
}

}  // namespace tg::model
