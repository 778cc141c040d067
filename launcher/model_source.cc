#include "launcher/model_source.h"

#include <system_error>
#include <vector>

#include "common/error.h"
#include "model_files/gguf.h"
#include "model_files/hub.h"
#include "model_files/model_config.h"

namespace tg::launcher {
namespace fs = std::filesystem;

fs::path PickWeights(const fs::path& resolved) {
  std::error_code ec;
  if (fs::is_regular_file(resolved, ec)) {
    TG_CHECK(resolved.extension() == ".gguf", kUnsupported,
             "model file " + resolved.string() +
                 " is not a .gguf file (give a directory for "
                 "safetensors weights)");
    return resolved;
  }
  TG_CHECK(fs::is_directory(resolved, ec), kNotFound,
           "model path " + resolved.string() + " is neither a directory nor a file");
  if (fs::exists(resolved / "config.json", ec)) return resolved;
  std::vector<fs::path> ggufs;
  for (const auto& entry : fs::directory_iterator(resolved, ec)) {
    if (entry.path().extension() == ".gguf") ggufs.push_back(entry.path());
  }
  TG_CHECK(!ggufs.empty(), kNotFound,
           "model directory " + resolved.string() + " has neither config.json nor a .gguf file");
  TG_CHECK(ggufs.size() == 1, kInvalidArgument,
           "model directory " + resolved.string() + " holds " + std::to_string(ggufs.size()) +
               " .gguf files; pass one of them to --model-id");
  return ggufs.front();
}

ModelSource ResolveModelSource(const LauncherConfig& config) {
  model::ResolveOptions options;
  if (config.revision) options.revision = *config.revision;
  options.show_progress = !config.disable_progress && !config.json_output;
  const fs::path resolved = model::ResolveModel(config.model_id, options);

  ModelSource source;
  source.weights = PickWeights(resolved);
  model::ModelConfig model_config;
  if (source.weights.extension() == ".gguf") {
    model_config = model::ModelConfigFromGguf(model::GgufFile::Open(source.weights));
    source.tokenizer = source.weights;
  } else {
    model_config = model::LoadHfModelConfig(source.weights);
    source.tokenizer = source.weights;
  }
  source.limits.max_position_embeddings = model_config.max_position_embeddings;
  source.limits.num_attention_heads = model_config.num_attention_heads;
  source.limits.num_key_value_heads = model_config.num_key_value_heads;
  source.description = model::Describe(model_config);
  return source;
}

}  // namespace tg::launcher
