#include "model_files/gguf.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <map>

#include "common/error.h"
#include "model_files/mapped_file.h"

namespace tg::model {

namespace {

constexpr uint64_t kDefaultAlignment = 32;
constexpr uint32_t kMaxDims = 4;  // GGML_MAX_DIMS

struct Value {
  GgufType type = GgufType::kU8;
  GgufType elem_type = GgufType::kU8;  // arrays only
  uint64_t count = 0;                  // arrays only
  const uint8_t* raw = nullptr;        // scalars and numeric arrays: the stored bytes
  std::string str;                     // kString
  std::vector<std::string> strs;       // arrays of strings
};

size_t ScalarSize(GgufType t) {
  switch (t) {
    case GgufType::kU8:
    case GgufType::kI8:
    case GgufType::kBool:
      return 1;
    case GgufType::kU16:
    case GgufType::kI16:
      return 2;
    case GgufType::kU32:
    case GgufType::kI32:
    case GgufType::kF32:
      return 4;
    case GgufType::kU64:
    case GgufType::kI64:
    case GgufType::kF64:
      return 8;
    default:
      return 0;  // string, array
  }
}

bool IsInteger(GgufType t) {
  return t == GgufType::kU8 || t == GgufType::kI8 || t == GgufType::kU16 || t == GgufType::kI16 ||
         t == GgufType::kU32 || t == GgufType::kI32 || t == GgufType::kU64 || t == GgufType::kI64;
}

bool IsSigned(GgufType t) {
  return t == GgufType::kI8 || t == GgufType::kI16 || t == GgufType::kI32 || t == GgufType::kI64;
}

template <typename T>
T Load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// Integer values are widened to a signed 128-bit-free pair: (negative?, magnitude or value).
// Returns false when the value is negative.
bool LoadUnsigned(GgufType t, const uint8_t* p, uint64_t* out) {
  int64_t s = 0;
  switch (t) {
    case GgufType::kU8:
      *out = Load<uint8_t>(p);
      return true;
    case GgufType::kU16:
      *out = Load<uint16_t>(p);
      return true;
    case GgufType::kU32:
      *out = Load<uint32_t>(p);
      return true;
    case GgufType::kU64:
      *out = Load<uint64_t>(p);
      return true;
    case GgufType::kI8:
      s = Load<int8_t>(p);
      break;
    case GgufType::kI16:
      s = Load<int16_t>(p);
      break;
    case GgufType::kI32:
      s = Load<int32_t>(p);
      break;
    case GgufType::kI64:
      s = Load<int64_t>(p);
      break;
    default:
      return false;
  }
  if (s < 0) return false;
  *out = static_cast<uint64_t>(s);
  return true;
}

int64_t LoadSigned(GgufType t, const uint8_t* p, bool* ok) {
  *ok = true;
  if (IsSigned(t)) {
    switch (t) {
      case GgufType::kI8:
        return Load<int8_t>(p);
      case GgufType::kI16:
        return Load<int16_t>(p);
      case GgufType::kI32:
        return Load<int32_t>(p);
      default:
        return Load<int64_t>(p);
    }
  }
  uint64_t u = 0;
  LoadUnsigned(t, p, &u);
  if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) *ok = false;
  return static_cast<int64_t>(u);
}

// Strict UTF-8 check (no overlongs, no surrogates, nothing above U+10FFFF).
bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<uint8_t>(s[i]);
    int len;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      len = 2, cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3, cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (int k = 1; k < len; ++k) {
      const auto cc = static_cast<uint8_t>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    i += len;
  }
  return true;
}

std::optional<DType> DTypeFromGgml(uint32_t t) {
  switch (t) {
    case 0:
      return DType::kF32;
    case 1:
      return DType::kF16;
    case 2:
      return DType::kQ4_0;
    case 3:
      return DType::kQ4_1;
    case 8:
      return DType::kQ8_0;
    case 12:
      return DType::kQ4_K;
    case 13:
      return DType::kQ5_K;
    case 14:
      return DType::kQ6_K;
    case 24:
      return DType::kI8;
    case 25:
      return DType::kI16;
    case 26:
      return DType::kI32;
    case 27:
      return DType::kI64;
    case 28:
      return DType::kF64;
    case 30:
      return DType::kBF16;
    default:
      return std::nullopt;
  }
}

// A bounds-checked cursor over the file bytes; every read names the file on failure.
class Reader {
 public:
  Reader(std::span<const uint8_t> bytes, const std::string& origin) : b_(bytes), origin_(origin) {}

  [[noreturn]] void Fail(const std::string& problem) const {
    throw Error(ErrorKind::kCorruptFile,
                origin_ + ": " + problem + " (at byte " + std::to_string(pos_) + ")");
  }
  const uint8_t* Take(uint64_t n, const char* what) {
    if (n > b_.size() - pos_) {
      Fail(std::string(what) + " runs past the end of the " + std::to_string(b_.size()) +
           "-byte file (truncated?)");
    }
    const uint8_t* p = b_.data() + pos_;
    pos_ += n;
    return p;
  }
  template <typename T>
  T Read(const char* what) {
    return Load<T>(Take(sizeof(T), what));
  }
  std::string ReadString(const char* what) {
    const auto len = Read<uint64_t>(what);
    const uint8_t* p = Take(len, what);
    std::string s(reinterpret_cast<const char*>(p), len);
    if (!IsValidUtf8(s)) Fail(std::string(what) + " is not valid UTF-8");
    return s;
  }
  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return b_.size() - pos_; }
  void Seek(uint64_t pos) {
    if (pos > b_.size()) Fail("data section starts past the end of the file (truncated?)");
    pos_ = pos;
  }

 private:
  std::span<const uint8_t> b_;
  const std::string& origin_;
  uint64_t pos_ = 0;
};

}  // namespace

struct GgufFile::Impl {
  std::shared_ptr<const MappedFile> file;  // null when parsing caller-owned bytes
  std::span<const uint8_t> bytes;
  std::string origin;
  uint32_t version = 0;
  uint64_t alignment = kDefaultAlignment;
  std::vector<std::string> key_order;
  std::map<std::string, Value, std::less<>> kv;
  std::vector<GgufTensorInfo> tensors;
  std::map<std::string, size_t, std::less<>> tensor_index;

  const Value& Get(std::string_view key) const {
    auto it = kv.find(key);
    if (it == kv.end()) {
      throw Error(ErrorKind::kNotFound, origin + ": no metadata key \"" + std::string(key) + "\"");
    }
    return it->second;
  }
  [[noreturn]] void WrongType(std::string_view key, const char* wanted) const {
    const Value& v = Get(key);
    std::string got = GgufTypeName(v.type);
    if (v.type == GgufType::kArray) got += std::string(" of ") + GgufTypeName(v.elem_type);
    throw Error(ErrorKind::kCorruptFile, origin + ": metadata key \"" + std::string(key) +
                                             "\" is " + got + ", expected " + wanted);
  }
};

namespace {

Value ReadValue(Reader& r, GgufType type, const std::string& key) {
  Value v;
  v.type = type;
  if (type == GgufType::kString) {
    v.str = r.ReadString("string value");
    return v;
  }
  if (type == GgufType::kArray) {
    v.elem_type = static_cast<GgufType>(r.Read<uint32_t>("array type"));
    v.count = r.Read<uint64_t>("array length");
    if (v.elem_type == GgufType::kString) {
      // Each string takes at least its 8-byte length: bound the count before reserving.
      if (v.count > r.remaining() / 8) r.Fail("array \"" + key + "\" is longer than the file");
      v.strs.reserve(v.count);
      for (uint64_t i = 0; i < v.count; ++i) v.strs.push_back(r.ReadString("array string"));
      return v;
    }
    const size_t size = ScalarSize(v.elem_type);
    if (size == 0) {
      r.Fail("array \"" + key + "\" has unsupported element type " +
             std::to_string(static_cast<uint32_t>(v.elem_type)));
    }
    if (v.count > r.remaining() / size) r.Fail("array \"" + key + "\" is longer than the file");
    v.raw = r.Take(v.count * size, "array data");
    return v;
  }
  const size_t size = ScalarSize(type);
  if (size == 0) {
    r.Fail("metadata key \"" + key + "\" has unknown value type " +
           std::to_string(static_cast<uint32_t>(type)));
  }
  v.raw = r.Take(size, "metadata value");
  if (type == GgufType::kBool && *v.raw > 1) r.Fail("bool value of \"" + key + "\" is not 0 or 1");
  return v;
}

void ParseInto(GgufFile::Impl& g) {
  Reader r(g.bytes, g.origin);
  const uint8_t* magic = r.Take(4, "magic");
  if (std::memcmp(magic, "GGUF", 4) != 0) r.Fail("not a GGUF file (bad magic)");
  g.version = r.Read<uint32_t>("version");
  if (g.version != 2 && g.version != 3) {
    r.Fail("unsupported GGUF version " + std::to_string(g.version) + " (supported: 2, 3)");
  }
  const auto n_tensors = r.Read<uint64_t>("tensor count");
  const auto n_kv = r.Read<uint64_t>("metadata count");
  // Every key/value takes at least 12 bytes and every tensor info at least 24.
  if (n_kv > r.remaining() / 12) r.Fail("metadata count " + std::to_string(n_kv) + " is too large");
  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key = r.ReadString("metadata key");
    const auto type = static_cast<GgufType>(r.Read<uint32_t>("metadata type"));
    Value v = ReadValue(r, type, key);
    if (g.kv.count(key)) r.Fail("duplicate metadata key \"" + key + "\"");
    g.key_order.push_back(key);
    g.kv.emplace(std::move(key), std::move(v));
  }
  if (auto it = g.kv.find("general.alignment"); it != g.kv.end()) {
    uint64_t a = 0;
    if (!IsInteger(it->second.type) || !LoadUnsigned(it->second.type, it->second.raw, &a) ||
        a == 0 || (a & (a - 1)) != 0 || a > (1u << 20)) {
      r.Fail("general.alignment is not a power of two");
    }
    g.alignment = a;
  }
  if (n_tensors > r.remaining() / 24) {
    r.Fail("tensor count " + std::to_string(n_tensors) + " is too large");
  }
  g.tensors.reserve(n_tensors);
  std::vector<uint64_t> rel_offsets;
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensorInfo t;
    t.name = r.ReadString("tensor name");
    const auto n_dims = r.Read<uint32_t>("tensor dims");
    if (n_dims == 0 || n_dims > kMaxDims) {
      r.Fail("tensor \"" + t.name + "\" has " + std::to_string(n_dims) + " dimensions");
    }
    int64_t elems = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const auto dim = r.Read<uint64_t>("tensor dim");
      if (dim == 0 || dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max() / elems)) {
        r.Fail("tensor \"" + t.name + "\" has an invalid or overflowing shape");
      }
      t.ne.push_back(static_cast<int64_t>(dim));
      elems *= static_cast<int64_t>(dim);
    }
    t.shape.assign(t.ne.rbegin(), t.ne.rend());
    t.ggml_type = r.Read<uint32_t>("tensor type");
    const auto dtype = DTypeFromGgml(t.ggml_type);
    if (!dtype) {
      throw Error(ErrorKind::kUnsupported, g.origin + ": tensor \"" + t.name +
                                               "\" has unsupported GGML type " +
                                               std::to_string(t.ggml_type));
    }
    t.dtype = *dtype;
    if (t.ne[0] % DTypeBlockElems(t.dtype) != 0) {
      r.Fail("tensor \"" + t.name + "\" rows of " + std::to_string(t.ne[0]) +
             " elements are not whole " + DTypeName(t.dtype) + " blocks");
    }
    const auto nbytes = DTypeBytes(t.dtype, elems);
    if (!nbytes) r.Fail("tensor \"" + t.name + "\" size overflows");
    t.nbytes = static_cast<uint64_t>(*nbytes);
    const auto offset = r.Read<uint64_t>("tensor offset");
    if (offset % g.alignment != 0) r.Fail("tensor \"" + t.name + "\" offset is not aligned");
    rel_offsets.push_back(offset);
    if (g.tensor_index.count(t.name)) r.Fail("duplicate tensor \"" + t.name + "\"");
    g.tensor_index.emplace(t.name, g.tensors.size());
    g.tensors.push_back(std::move(t));
  }
  const uint64_t data_start = (r.pos() + g.alignment - 1) / g.alignment * g.alignment;
  if (!g.tensors.empty()) r.Seek(data_start);
  const uint64_t data_size = g.tensors.empty() ? 0 : g.bytes.size() - data_start;
  for (size_t i = 0; i < g.tensors.size(); ++i) {
    auto& t = g.tensors[i];
    if (rel_offsets[i] > data_size || t.nbytes > data_size - rel_offsets[i]) {
      r.Fail("tensor \"" + t.name + "\" data runs past the end of the file (truncated?)");
    }
    t.offset = data_start + rel_offsets[i];
  }
  std::vector<const GgufTensorInfo*> order;
  for (const auto& t : g.tensors) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < order.size(); ++i) {
    if (order[i]->offset < order[i - 1]->offset + order[i - 1]->nbytes) {
      r.Fail("tensors \"" + order[i - 1]->name + "\" and \"" + order[i]->name + "\" overlap");
    }
  }
}

}  // namespace

const char* GgufTypeName(GgufType type) {
  static const char* kNames[] = {"u8",   "i8",     "u16",   "i16", "u32", "i32", "f32",
                                 "bool", "string", "array", "u64", "i64", "f64"};
  const auto i = static_cast<uint32_t>(type);
  return i < std::size(kNames) ? kNames[i] : "unknown";
}

GgufFile GgufFile::Open(const std::filesystem::path& path) {
  auto impl = std::make_shared<Impl>();
  impl->file = MappedFile::Open(path);
  impl->bytes = impl->file->bytes();
  impl->origin = path.string();
  ParseInto(*impl);
  return GgufFile(std::move(impl));
}

GgufFile GgufFile::Parse(std::span<const uint8_t> bytes, const std::string& origin) {
  auto impl = std::make_shared<Impl>();
  impl->bytes = bytes;
  impl->origin = origin;
  ParseInto(*impl);
  return GgufFile(std::move(impl));
}

uint32_t GgufFile::version() const { return impl_->version; }
const std::string& GgufFile::origin() const { return impl_->origin; }
uint64_t GgufFile::alignment() const { return impl_->alignment; }
std::vector<std::string> GgufFile::Keys() const { return impl_->key_order; }
bool GgufFile::HasKey(std::string_view key) const { return impl_->kv.find(key) != impl_->kv.end(); }

std::optional<GgufType> GgufFile::KeyType(std::string_view key) const {
  auto it = impl_->kv.find(key);
  if (it == impl_->kv.end()) return std::nullopt;
  return it->second.type;
}

std::optional<GgufType> GgufFile::ArrayElementType(std::string_view key) const {
  auto it = impl_->kv.find(key);
  if (it == impl_->kv.end() || it->second.type != GgufType::kArray) return std::nullopt;
  return it->second.elem_type;
}

std::string GgufFile::GetString(std::string_view key) const {
  const Value& v = impl_->Get(key);
  if (v.type != GgufType::kString) impl_->WrongType(key, "string");
  return v.str;
}

uint64_t GgufFile::GetU64(std::string_view key) const {
  const Value& v = impl_->Get(key);
  uint64_t out = 0;
  if (!IsInteger(v.type) || !LoadUnsigned(v.type, v.raw, &out)) {
    impl_->WrongType(key, "a non-negative integer");
  }
  return out;
}

uint32_t GgufFile::GetU32(std::string_view key) const {
  const uint64_t v = GetU64(key);
  if (v > std::numeric_limits<uint32_t>::max()) impl_->WrongType(key, "an integer that fits u32");
  return static_cast<uint32_t>(v);
}

int64_t GgufFile::GetI64(std::string_view key) const {
  const Value& v = impl_->Get(key);
  bool ok = IsInteger(v.type);
  const int64_t out = ok ? LoadSigned(v.type, v.raw, &ok) : 0;
  if (!ok) impl_->WrongType(key, "an integer that fits i64");
  return out;
}

float GgufFile::GetF32(std::string_view key) const {
  const Value& v = impl_->Get(key);
  if (v.type == GgufType::kF32) return Load<float>(v.raw);
  if (v.type == GgufType::kF64) return static_cast<float>(Load<double>(v.raw));
  impl_->WrongType(key, "f32");
}

bool GgufFile::GetBool(std::string_view key) const {
  const Value& v = impl_->Get(key);
  if (v.type != GgufType::kBool) impl_->WrongType(key, "bool");
  return *v.raw != 0;
}

std::vector<std::string> GgufFile::GetStringArray(std::string_view key) const {
  const Value& v = impl_->Get(key);
  if (v.type != GgufType::kArray || v.elem_type != GgufType::kString) {
    impl_->WrongType(key, "array of string");
  }
  return v.strs;
}

std::vector<int32_t> GgufFile::GetI32Array(std::string_view key) const {
  const Value& v = impl_->Get(key);
  if (v.type != GgufType::kArray || !IsInteger(v.elem_type)) {
    impl_->WrongType(key, "array of integers");
  }
  const size_t size = ScalarSize(v.elem_type);
  std::vector<int32_t> out(v.count);
  for (uint64_t i = 0; i < v.count; ++i) {
    bool ok = true;
    const int64_t x = LoadSigned(v.elem_type, v.raw + i * size, &ok);
    if (!ok || x < std::numeric_limits<int32_t>::min() || x > std::numeric_limits<int32_t>::max()) {
      impl_->WrongType(key, "array of values that fit i32");
    }
    out[i] = static_cast<int32_t>(x);
  }
  return out;
}

std::vector<float> GgufFile::GetF32Array(std::string_view key) const {
  const Value& v = impl_->Get(key);
  if (v.type != GgufType::kArray ||
      (v.elem_type != GgufType::kF32 && v.elem_type != GgufType::kF64)) {
    impl_->WrongType(key, "array of f32");
  }
  std::vector<float> out(v.count);
  for (uint64_t i = 0; i < v.count; ++i) {
    out[i] = v.elem_type == GgufType::kF32 ? Load<float>(v.raw + 4 * i)
                                           : static_cast<float>(Load<double>(v.raw + 8 * i));
  }
  return out;
}

uint64_t GgufFile::ArraySize(std::string_view key) const {
  const Value& v = impl_->Get(key);
  if (v.type != GgufType::kArray) impl_->WrongType(key, "array");
  return v.count;
}

std::optional<std::string> GgufFile::TryGetString(std::string_view key) const {
  return HasKey(key) ? std::optional(GetString(key)) : std::nullopt;
}
std::optional<uint32_t> GgufFile::TryGetU32(std::string_view key) const {
  return HasKey(key) ? std::optional(GetU32(key)) : std::nullopt;
}
std::optional<float> GgufFile::TryGetF32(std::string_view key) const {
  return HasKey(key) ? std::optional(GetF32(key)) : std::nullopt;
}
std::optional<bool> GgufFile::TryGetBool(std::string_view key) const {
  return HasKey(key) ? std::optional(GetBool(key)) : std::nullopt;
}

const std::vector<GgufTensorInfo>& GgufFile::tensors() const { return impl_->tensors; }

const GgufTensorInfo* GgufFile::FindTensor(std::string_view name) const {
  auto it = impl_->tensor_index.find(name);
  return it == impl_->tensor_index.end() ? nullptr : &impl_->tensors[it->second];
}

const uint8_t* GgufFile::TensorData(const GgufTensorInfo& tensor) const {
  return impl_->bytes.data() + tensor.offset;
}

}  // namespace tg::model
