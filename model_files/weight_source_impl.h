// The two WeightSource implementations (constructed by WeightSource::Open).
#pragma once

#include <filesystem>
#include <memory>

#include "model_files/weight_source.h"

namespace tg::model {

std::unique_ptr<WeightSource> OpenSafetensorsWeights(const std::filesystem::path& model_dir);
std::unique_ptr<WeightSource> OpenGgufWeights(const std::filesystem::path& gguf_path);

}  // namespace tg::model
