// Resolving --model-id to a directory (or file) on disk: a local path, the Hugging Face cache
// (models--org--name/{refs,snapshots,blobs}, shared with huggingface-cli), or a download from the
// hub over HTTPS into that cache.
#pragma once

#include <filesystem>
#include <string>

namespace tg::model {

// $HUGGINGFACE_HUB_CACHE, else $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub.
std::filesystem::path HubCacheDir();
// HF_HUB_OFFLINE set to 1/true/yes/on.
bool HubOfflineFromEnv();
// $HF_ENDPOINT or https://huggingface.co (without trailing slash).
std::string HubEndpointFromEnv();

struct ResolveOptions {
  std::string revision = "main";
  bool offline = HubOfflineFromEnv();
  bool show_progress = false;  // a progress bar on stderr (only drawn when it is a terminal)
  std::string endpoint = HubEndpointFromEnv();
  std::string token;                // empty: $HF_TOKEN
  std::filesystem::path cache_dir;  // empty: HubCacheDir()
  // One file to fetch instead of the safetensors weights (e.g. "model.Q4_1.gguf"); the result is
  // then the path of that file.
  std::string filename;
};

// Returns model_id itself when it is an existing path; else the snapshot directory in the cache
// (downloading what is missing unless offline). Throws tg::Error: kNotFound (unknown repo or
// missing in an offline cache), kUnavailable (network), kCorruptFile (size/etag mismatch).
std::filesystem::path ResolveModel(const std::string& model_id, const ResolveOptions& options = {});

}  // namespace tg::model
