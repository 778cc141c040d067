#include "model_files/weight_source.h"

#include "common/error.h"
#include "model_files/tensor_slice.h"
#include "model_files/weight_source_impl.h"

namespace tg::model {

int64_t NumElements(const TensorInfo& info) {
  int64_t n = 1;
  for (int64_t d : info.shape) n *= d;
  return n;
}

int64_t WeightSource::SliceElems(const std::string& name, RowRange rows, RowRange cols) const {
  return ResolveSlice(Info(name).shape, rows, cols, name).out_elems();
}

std::vector<float> WeightSource::ReadF32(const std::string& name, RowRange rows,
                                         RowRange cols) const {
  std::vector<float> out(static_cast<size_t>(SliceElems(name, rows, cols)));
  ReadF32Into(name, out.data(), rows, cols);
  return out;
}

std::vector<uint16_t> WeightSource::ReadBF16(const std::string& name, RowRange rows,
                                             RowRange cols) const {
  std::vector<uint16_t> out(static_cast<size_t>(SliceElems(name, rows, cols)));
  ReadBF16Into(name, out.data(), rows, cols);
  return out;
}

std::vector<uint8_t> WeightSource::ReadStoredRows(const std::string& name) const {
  throw Error(ErrorKind::kUnsupported,
              "the stored rows of " + name + " are not readable as blocks");
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
  bool has_bin = false;
  for (const auto& e : fs::directory_iterator(path)) {
    if (e.path().extension() == ".safetensors") has_safetensors = true;
    if (e.path().extension() == ".gguf") ggufs.push_back(e.path());
    if (e.path().extension() == ".bin") has_bin = true;
  }
  if (has_safetensors) return OpenSafetensorsWeights(path);
  // A directory with exactly one GGUF file (e.g. a hub snapshot of a GGUF repo).
  if (ggufs.size() == 1) return OpenGgufWeights(ggufs[0]);
  TG_CHECK(!(has_bin && ggufs.empty()), kUnsupported,
           path.string() +
               " holds only PyTorch .bin weights, which are not supported; convert "
               "them to safetensors");
  throw Error(ErrorKind::kNotFound,
              "no weights in " + path.string() +
                  (ggufs.empty() ? " (no *.safetensors or *.gguf files)"
                                 : " (several .gguf files: give the path of one)"));
}

}  // namespace tg::model
