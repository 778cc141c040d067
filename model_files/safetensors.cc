#include "model_files/safetensors.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "common/error.h"

namespace tg::model {

namespace {

using nlohmann::json;

// Headers of real checkpoints are a few MB at most; this bounds what a corrupt length can make us
// parse.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

[[noreturn]] void Corrupt(const std::string& origin, const std::string& problem) {
  throw Error(ErrorKind::kCorruptFile, origin + ": " + problem);
}

SafetensorsTensor ParseTensor(const std::string& origin, const std::string& name, const json& t,
                              uint64_t data_start, uint64_t data_size) {
  const std::string where = "tensor \"" + name + "\"";
  if (!t.is_object()) Corrupt(origin, where + " is not an object");
  auto dt = t.find("dtype");
  if (dt == t.end() || !dt->is_string()) Corrupt(origin, where + " has no dtype");
  const auto dtype = DTypeFromSafetensorsName(dt->get<std::string>());
  if (!dtype) {
    throw Error(ErrorKind::kUnsupported, origin + ": " + where + " has unsupported dtype \"" +
                                             dt->get<std::string>() + "\"");
  }
  SafetensorsTensor out{.dtype = *dtype};
  auto shape = t.find("shape");
  if (shape == t.end() || !shape->is_array()) Corrupt(origin, where + " has no shape");
  int64_t elems = 1;
  for (const auto& d : *shape) {
    if (!d.is_number_unsigned()) Corrupt(origin, where + " has a non-integer dimension");
    const uint64_t dim = d.get<uint64_t>();
    if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
        (dim != 0 && elems > std::numeric_limits<int64_t>::max() / static_cast<int64_t>(dim))) {
      Corrupt(origin, where + " has a shape whose size overflows");
    }
    out.shape.push_back(static_cast<int64_t>(dim));
    elems *= static_cast<int64_t>(dim);
  }
  auto offs = t.find("data_offsets");
  if (offs == t.end() || !offs->is_array() || offs->size() != 2 ||
      !(*offs)[0].is_number_unsigned() || !(*offs)[1].is_number_unsigned()) {
    Corrupt(origin, where + " has no valid data_offsets");
  }
  const uint64_t begin = (*offs)[0].get<uint64_t>(), end = (*offs)[1].get<uint64_t>();
  if (begin > end) Corrupt(origin, where + " has data_offsets that end before they begin");
  if (end > data_size) {
    Corrupt(origin, where + " runs past the end of the file (data_offsets end " +
                        std::to_string(end) + " > " + std::to_string(data_size) +
                        " data bytes; truncated file?)");
  }
  const auto bytes = DTypeBytes(*dtype, elems);
  if (!bytes || static_cast<uint64_t>(*bytes) != end - begin) {
    Corrupt(origin, where + " holds " + std::to_string(end - begin) +
                        " bytes but its shape and dtype need " +
                        (bytes ? std::to_string(*bytes) : std::string("an overflowing number of")));
  }
  out.begin = data_start + begin;
  out.end = data_start + end;
  return out;
}

}  // namespace

SafetensorsHeader ParseSafetensorsHeader(std::span<const uint8_t> file, const std::string& origin) {
  if (file.size() < 8) Corrupt(origin, "file is too short for a safetensors header (truncated?)");
  uint64_t header_len = 0;
  std::memcpy(&header_len, file.data(), 8);
  if (header_len > kMaxHeaderBytes) {
    Corrupt(origin, "header length " + std::to_string(header_len) + " is implausibly large");
  }
  if (header_len > file.size() - 8) {
    Corrupt(origin, "header length " + std::to_string(header_len) + " runs past the end of the " +
                        std::to_string(file.size()) + "-byte file (truncated?)");
  }
  json j;
  try {
    j = json::parse(file.begin() + 8, file.begin() + 8 + static_cast<std::ptrdiff_t>(header_len));
  } catch (const json::exception& e) {
    Corrupt(origin, std::string("header is not valid UTF-8 JSON: ") + e.what());
  }
  if (!j.is_object()) Corrupt(origin, "header is not a JSON object");
  const uint64_t data_start = 8 + header_len;
  const uint64_t data_size = file.size() - data_start;
  SafetensorsHeader header;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) Corrupt(origin, "__metadata__ is not an object");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string())
          Corrupt(origin, "__metadata__ value \"" + m.key() + "\" is not a string");
        header.metadata[m.key()] = m->get<std::string>();
      }
      continue;
    }
    header.tensors[it.key()] = ParseTensor(origin, it.key(), *it, data_start, data_size);
  }
  // Tensors must not share bytes: sort by start and compare neighbours.
  std::vector<std::pair<const std::string*, const SafetensorsTensor*>> order;
  for (const auto& [name, t] : header.tensors) order.emplace_back(&name, &t);
  std::sort(order.begin(), order.end(),
            [](const auto& a, const auto& b) { return a.second->begin < b.second->begin; });
  for (size_t i = 1; i < order.size(); ++i) {
    if (order[i].second->begin < order[i - 1].second->end) {
      Corrupt(origin,
              "tensors \"" + *order[i - 1].first + "\" and \"" + *order[i].first + "\" overlap");
    }
  }
  return header;
}

SafetensorsFile SafetensorsFile::Open(const std::filesystem::path& path) {
  SafetensorsFile f;
  f.file_ = MappedFile::Open(path);
  f.header_ = ParseSafetensorsHeader(f.file_->bytes(), path.string());
  return f;
}

const SafetensorsTensor* SafetensorsFile::Find(const std::string& name) const {
  auto it = header_.tensors.find(name);
  return it == header_.tensors.end() ? nullptr : &it->second;
}

SafetensorsCheckpoint SafetensorsCheckpoint::Open(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  SafetensorsCheckpoint ckpt;
  auto add_file = [&](const fs::path& p) -> const SafetensorsFile* {
    TG_CHECK(fs::is_regular_file(p), kNotFound, "missing safetensors shard " + p.string());
    ckpt.files_.push_back(std::make_unique<SafetensorsFile>(SafetensorsFile::Open(p)));
    return ckpt.files_.back().get();
  };
  const fs::path index_path = dir / "model.safetensors.index.json";
  if (fs::is_regular_file(index_path)) {
    std::ifstream in(index_path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    json index;
    try {
      index = json::parse(text.str());
    } catch (const json::exception& e) {
      Corrupt(index_path.string(), std::string("invalid JSON: ") + e.what());
    }
    auto map = index.find("weight_map");
    if (!index.is_object() || map == index.end() || !map->is_object()) {
      Corrupt(index_path.string(), "no weight_map object");
    }
    std::map<std::string, const SafetensorsFile*> shards;
    for (auto it = map->begin(); it != map->end(); ++it) {
      if (!it->is_string()) Corrupt(index_path.string(), "weight_map value is not a file name");
      const std::string shard = it->get<std::string>();
      if (shard.empty() || shard.find('/') != std::string::npos || shard == "..") {
        Corrupt(index_path.string(), "shard name \"" + shard + "\" is not a plain file name");
      }
      if (!shards.count(shard)) shards[shard] = add_file(dir / shard);
      const SafetensorsFile* file = shards[shard];
      const SafetensorsTensor* t = file->Find(it.key());
      if (t == nullptr) {
        Corrupt(index_path.string(), "tensor \"" + it.key() + "\" is listed in shard " + shard +
                                         " but that shard does not hold it");
      }
      ckpt.entries_[it.key()] = Entry{file, t};
    }
    return ckpt;
  }
  std::vector<fs::path> paths;
  if (fs::is_regular_file(dir / "model.safetensors")) {
    paths.push_back(dir / "model.safetensors");
  } else if (fs::is_directory(dir)) {
    for (const auto& e : fs::directory_iterator(dir)) {
      if (e.path().extension() == ".safetensors") paths.push_back(e.path());
    }
    std::sort(paths.begin(), paths.end());
  }
  TG_CHECK(!paths.empty(), kNotFound, "no *.safetensors files in " + dir.string());
  for (const auto& p : paths) {
    const SafetensorsFile* file = add_file(p);
    for (const auto& [name, t] : file->tensors()) {
      if (ckpt.entries_.count(name)) {
        Corrupt(p.string(), "tensor \"" + name + "\" also appears in another file");
      }
      ckpt.entries_[name] = Entry{file, &t};
    }
  }
  return ckpt;
}

const SafetensorsCheckpoint::Entry* SafetensorsCheckpoint::Find(const std::string& name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &it->second;
}

}  // namespace tg::model
