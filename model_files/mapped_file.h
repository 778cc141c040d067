// A read-only memory map of a whole file (RAII). Tensors are read straight from the mapping, so a
// page-cached checkpoint loads without copies.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>

namespace tg::model {

class MappedFile {
 public:
  // Throws tg::Error(kNotFound) when the file cannot be opened or mapped.
  static std::shared_ptr<const MappedFile> Open(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::span<const uint8_t> bytes() const { return {data_, size_}; }
  const uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }

 private:
  MappedFile(std::filesystem::path path, const uint8_t* data, uint64_t size)
      : path_(std::move(path)), data_(data), size_(size) {}
  std::filesystem::path path_;
  const uint8_t* data_;
  uint64_t size_;
};

}  // namespace tg::model
