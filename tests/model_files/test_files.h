// Helpers that build small model files for the tests: a scratch directory, a safetensors writer
// and a GGUF writer written from the file-format specs (not with the code under test).
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

namespace tg::model::testing {

class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tg_model_files_XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline void WriteBytes(const std::filesystem::path& p, const std::vector<uint8_t>& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

inline void WriteText(const std::filesystem::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
}

inline std::vector<uint8_t> ReadBytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// resize + memcpy rather than insert: GCC 12 reports a false stringop-overflow on the latter.
template <typename T>
void Append(std::vector<uint8_t>* out, T v) {
  const size_t at = out->size();
  out->resize(at + sizeof(T));
  std::memcpy(out->data() + at, &v, sizeof(T));
}

inline void AppendRaw(std::vector<uint8_t>* out, const void* data, size_t n) {
  const size_t at = out->size();
  out->resize(at + n);
  if (n > 0) std::memcpy(out->data() + at, data, n);
}

template <typename T>
std::vector<uint8_t> AsBytes(const std::vector<T>& v) {
  std::vector<uint8_t> out(v.size() * sizeof(T));
  std::memcpy(out.data(), v.data(), out.size());
  return out;
}

// safetensors: u64 header length, JSON header, data.
class SafetensorsWriter {
 public:
  void Add(const std::string& name, const std::string& dtype, std::vector<int64_t> shape,
           const std::vector<uint8_t>& bytes) {
    header_[name] = {{"dtype", dtype},
                     {"shape", shape},
                     {"data_offsets", {data_.size(), data_.size() + bytes.size()}}};
    AppendRaw(&data_, bytes.data(), bytes.size());
  }
  nlohmann::json& header() { return header_; }
  std::vector<uint8_t> Build() const {
    const std::string h = header_.dump();
    std::vector<uint8_t> out;
    Append<uint64_t>(&out, h.size());
    AppendRaw(&out, h.data(), h.size());
    AppendRaw(&out, data_.data(), data_.size());
    return out;
  }
  void Write(const std::filesystem::path& p) const { WriteBytes(p, Build()); }

 private:
  nlohmann::json header_ = nlohmann::json::object();
  std::vector<uint8_t> data_;
};

// GGUF v3: magic, version, tensor count, kv count, kvs, tensor infos, padding, data (32-aligned).
class GgufWriter {
 public:
  void String(const std::string& key, const std::string& v) {
    Key(key, 8);
    Str(&kv_, v);
    ++n_kv_;
  }
  void U32(const std::string& key, uint32_t v) { Scalar(key, 4, v); }
  void I32(const std::string& key, int32_t v) { Scalar(key, 5, v); }
  void U64(const std::string& key, uint64_t v) { Scalar(key, 10, v); }
  void F32(const std::string& key, float v) { Scalar(key, 6, v); }
  void Bool(const std::string& key, bool v) { Scalar(key, 7, static_cast<uint8_t>(v)); }
  void StringArray(const std::string& key, const std::vector<std::string>& v) {
    Key(key, 9);
    Append<uint32_t>(&kv_, 8);
    Append<uint64_t>(&kv_, v.size());
    for (const auto& s : v) Str(&kv_, s);
    ++n_kv_;
  }
  void I32Array(const std::string& key, const std::vector<int32_t>& v) { Array(key, 5, v); }
  void F32Array(const std::string& key, const std::vector<float>& v) { Array(key, 6, v); }
  // ne: GGUF dims, innermost first. `bytes` must be the exact tensor size.
  void Tensor(const std::string& name, uint32_t ggml_type, std::vector<uint64_t> ne,
              const std::vector<uint8_t>& bytes) {
    while (data_.size() % 32) data_.push_back(0);
    Str(&info_, name);
    Append<uint32_t>(&info_, static_cast<uint32_t>(ne.size()));
    for (auto d : ne) Append<uint64_t>(&info_, d);
    Append<uint32_t>(&info_, ggml_type);
    Append<uint64_t>(&info_, data_.size());
    AppendRaw(&data_, bytes.data(), bytes.size());
    ++n_tensors_;
  }
  std::vector<uint8_t> Build() const {
    std::vector<uint8_t> out = {'G', 'G', 'U', 'F'};
    Append<uint32_t>(&out, 3);
    Append<uint64_t>(&out, n_tensors_);
    Append<uint64_t>(&out, n_kv_);
    AppendRaw(&out, kv_.data(), kv_.size());
    AppendRaw(&out, info_.data(), info_.size());
    while (out.size() % 32) out.push_back(0);
    AppendRaw(&out, data_.data(), data_.size());
    return out;
  }
  void Write(const std::filesystem::path& p) const { WriteBytes(p, Build()); }

 private:
  static void Str(std::vector<uint8_t>* out, const std::string& s) {
    Append<uint64_t>(out, s.size());
    AppendRaw(out, s.data(), s.size());
  }
  void Key(const std::string& key, uint32_t type) {
    Str(&kv_, key);
    Append<uint32_t>(&kv_, type);
  }
  template <typename T>
  void Scalar(const std::string& key, uint32_t type, T v) {
    Key(key, type);
    Append<T>(&kv_, v);
    ++n_kv_;
  }
  template <typename T>
  void Array(const std::string& key, uint32_t elem_type, const std::vector<T>& v) {
    Key(key, 9);
    Append<uint32_t>(&kv_, elem_type);
    Append<uint64_t>(&kv_, v.size());
    for (const T& x : v) Append<T>(&kv_, x);
    ++n_kv_;
  }
  std::vector<uint8_t> kv_, info_, data_;
  uint64_t n_kv_ = 0, n_tensors_ = 0;
};

}  // namespace tg::model::testing
