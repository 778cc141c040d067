// safetensors files: an 8-byte little-endian header length, a JSON header mapping tensor names to
// {dtype, shape, data_offsets}, then the raw data. A checkpoint is one file or several shards
// listed by model.safetensors.index.json.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "model_files/dtype.h"
#include "model_files/mapped_file.h"

namespace tg::model {

struct SafetensorsTensor {
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets into the file (already past the header)
  uint64_t end = 0;
};

// The parsed header. Parsing checks everything the readers rely on: known dtypes, sizes that
// match shapes, offsets inside the file and not overlapping. `origin` names the file in errors.
struct SafetensorsHeader {
  std::map<std::string, SafetensorsTensor> tensors;
  std::map<std::string, std::string> metadata;  // "__metadata__"
};
SafetensorsHeader ParseSafetensorsHeader(std::span<const uint8_t> file_bytes,
                                         const std::string& origin);

class SafetensorsFile {
 public:
  static SafetensorsFile Open(const std::filesystem::path& path);
  const std::filesystem::path& path() const { return file_->path(); }
  const std::map<std::string, SafetensorsTensor>& tensors() const { return header_.tensors; }
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
  const SafetensorsTensor* Find(const std::string& name) const;
  const uint8_t* Data(const SafetensorsTensor& tensor) const {
    return file_->data() + tensor.begin;
  }

 private:
  std::shared_ptr<const MappedFile> file_;
  SafetensorsHeader header_;
};

// All tensors of a model directory: model.safetensors, or the shards named by
// model.safetensors.index.json (every listed shard must exist and hold the tensors it is said to).
class SafetensorsCheckpoint {
 public:
  static SafetensorsCheckpoint Open(const std::filesystem::path& model_dir);
  struct Entry {
    const SafetensorsFile* file;
    const SafetensorsTensor* tensor;
  };
  const Entry* Find(const std::string& name) const;
  const std::map<std::string, Entry>& entries() const { return entries_; }
  const std::vector<std::unique_ptr<SafetensorsFile>>& files() const { return files_; }

 private:
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, Entry> entries_;
};

}  // namespace tg::model
