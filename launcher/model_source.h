// From --model-id to the files the shards and the router read: resolves (and downloads) the model
// through the hub cache, picks the weights form (HF directory or one .gguf file) and reads the
// limits the launcher derives its defaults from.
#pragma once

#include <filesystem>
#include <string>

#include "launcher/config.h"

namespace tg::launcher {

struct ModelSource {
  std::filesystem::path weights;    // what the shards load: an HF directory or a .gguf file
  std::filesystem::path tokenizer;  // what the router tokenizes with: a directory or the .gguf
  ModelLimits limits;
  std::string description;  // one line for the start-up log
};

// Picks the weights inside a resolved path: the path itself when it is a .gguf file or a
// directory with config.json, else the directory's only .gguf file. Throws tg::Error(kNotFound)
// naming what was looked for.
std::filesystem::path PickWeights(const std::filesystem::path& resolved);

// Resolves config.model_id (local path, cache, or download with progress) and reads its limits.
ModelSource ResolveModelSource(const LauncherConfig& config);

}  // namespace tg::launcher
