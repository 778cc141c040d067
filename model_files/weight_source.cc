#include "model_files/weight_source.h"

#include "common/error.h"
#include "model_files/weight_source_impl.h"

namespace tg::model {

int64_t NumElements(const TensorInfo& info) {
  int64_t n = 1;
  for (int64_t d : info.shape) n *= d;
  return n;
}

std::unique_ptr<WeightSource> WeightSource::Open(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  TG_CHECK(fs::exists(path), kNotFound, "model path " + path.string() + " does not exist");
  if (fs::is_regular_file(path)) {
    TG_CHECK(
        path.extension() == ".gguf", kUnsupported,
        "model file " + path.string() + " is not a .gguf file (give a directory for safetensors)");
    return OpenGgufWeights(path);
  }
  bool has_safetensors = fs::exists(path / "model.safetensors.index.json");
  std::vector<fs::path> ggufs;
  for (const auto& e : fs::directory_iterator(path)) {
    if (e.path().extension() == ".safetensors") has_safetensors = true;
    if (e.path().extension() == ".gguf") ggufs.push_back(e.path());
  }
  if (has_safetensors) return OpenSafetensorsWeights(path);
  // A directory with exactly one GGUF file (e.g. a hub snapshot of a GGUF repo).
  if (ggufs.size() == 1) return OpenGgufWeights(ggufs[0]);
  throw Error(ErrorKind::kNotFound,
              "no weights in " + path.string() +
                  (ggufs.empty() ? " (no *.safetensors or *.gguf files)"
                                 : " (several .gguf files: give the path of one)"));
}

}  // namespace tg::model
