#include "model_files/safetensors.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "model_files/weight_source.h"
#include "test_files.h"

namespace tg::model {
namespace {

using testing::AsBytes;
using testing::SafetensorsWriter;
using testing::ScratchDir;

constexpr const char* kTinyConfig =
    R"({"model_type": "llama", "architectures": ["LlamaForCausalLM"],
  "hidden_size": 4, "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
  "num_key_value_heads": 1, "vocab_size": 3, "max_position_embeddings": 16})";

std::vector<float> Iota(int n, float scale = 1.0f) {
  std::vector<float> v(n);
  for (int i = 0; i < n; ++i) v[i] = scale * static_cast<float>(i) - 2.5f;
  return v;
}

// A model directory with one tensor of every safetensors dtype we read.
class SafetensorsDir : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::WriteText(dir_.path() / "config.json", kTinyConfig);
    SafetensorsWriter w;
    w.Add("f32", "F32", {3, 4}, AsBytes(Iota(12)));
    w.Add("f16", "F16", {2, 3},
          AsBytes(std::vector<uint16_t>{0x3c00, 0xc000, 0x3800, 0x0000, 0x4200, 0xbc00}));
    w.Add("bf16", "BF16", {4}, AsBytes(std::vector<uint16_t>{0x3f80, 0xc0a0, 0x4000, 0x0000}));
    w.Add("f8", "F8_E4M3", {2, 2}, {0x38, 0xb8, 0x7e, 0x3c});
    w.Add("i32", "I32", {2}, AsBytes(std::vector<int32_t>{7, -7}));
    w.Add("cube", "F32", {2, 3, 2}, AsBytes(Iota(12, 2.0f)));
    w.header()["__metadata__"] = {{"format", "pt"}};
    w.Write(dir_.path() / "model.safetensors");
  }
  ScratchDir dir_;
};

TEST_F(SafetensorsDir, ReadsEveryDtype) {
  const auto w = WeightSource::Open(dir_.path());
  EXPECT_EQ(w->Names(), (std::vector<std::string>{"bf16", "cube", "f16", "f32", "f8", "i32"}));
  EXPECT_EQ(w->ReadF32("f32"), Iota(12));
  EXPECT_EQ(w->ReadF32("f16"), (std::vector<float>{1, -2, 0.5, 0, 3, -1}));
  EXPECT_EQ(w->ReadF32("bf16"), (std::vector<float>{1, -5, 2, 0}));
  EXPECT_EQ(w->ReadF32("f8"), (std::vector<float>{1, -1, 448, 1.5}));
  EXPECT_EQ(w->Info("f16").dtype, DType::kF16);
  EXPECT_EQ(w->Info("f32").shape, (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(w->ReadBF16("f16"),
            (std::vector<uint16_t>{0x3f80, 0xc000, 0x3f00, 0x0000, 0x4040, 0xbf80}));
  try {
    w->ReadF32("i32");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
  }
  EXPECT_THROW(w->Info("nope"), Error);
  EXPECT_FALSE(w->Has("nope"));
  SafetensorsFile f = SafetensorsFile::Open(dir_.path() / "model.safetensors");
  EXPECT_EQ(f.metadata().at("format"), "pt");
}

TEST_F(SafetensorsDir, SlicesRowsAndColumns) {
  const auto w = WeightSource::Open(dir_.path());
  // f32 is [[-2.5,-1.5,-0.5,0.5],[1.5,2.5,3.5,4.5],[5.5,6.5,7.5,8.5]].
  EXPECT_EQ(w->ReadF32("f32", {1, 3}),
            (std::vector<float>{1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5}));
  EXPECT_EQ(w->ReadF32("f32", {}, {1, 3}), (std::vector<float>{-1.5, -0.5, 2.5, 3.5, 6.5, 7.5}));
  EXPECT_EQ(w->ReadF32("f32", {2, -1}, {3, 4}), (std::vector<float>{8.5}));
  EXPECT_EQ(w->ReadF32("f16", {}, {2, 3}), (std::vector<float>{0.5, -1}));
  EXPECT_EQ(w->ReadF32("bf16", {1, 3}), (std::vector<float>{-5, 2}));
  // cube [2, 3, 2]: columns are dim 1, each 2 elements wide.
  EXPECT_EQ(w->ReadF32("cube", {1, 2}, {1, 2}), (std::vector<float>{13.5, 15.5}));
  EXPECT_THROW(w->ReadF32("f32", {0, 4}), Error);
  EXPECT_THROW(w->ReadF32("f32", {2, 1}), Error);
  EXPECT_THROW(w->ReadF32("bf16", {}, {0, 1}), Error);  // 1-D has no columns
}

TEST_F(SafetensorsDir, RawDataIsZeroCopy) {
  const auto w = WeightSource::Open(dir_.path());
  const auto* p = static_cast<const float*>(w->RawData("f32"));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(std::vector<float>(p, p + 12), Iota(12));
  // The pointer is stable: the tensor is read from the mapping, not copied per call.
  EXPECT_EQ(w->RawData("f32"), p);
  EXPECT_NE(w->RawData("bf16"), nullptr);
  EXPECT_EQ(w->RawData("f8"), nullptr);
  EXPECT_EQ(w->RawData("i32"), nullptr);
}

TEST(SafetensorsShards, IndexJoinsShards) {
  ScratchDir dir;
  testing::WriteText(dir.path() / "config.json", kTinyConfig);
  SafetensorsWriter a, b;
  a.Add("a.weight", "F32", {2, 2}, AsBytes(std::vector<float>{1, 2, 3, 4}));
  b.Add("b.weight", "BF16", {2}, AsBytes(std::vector<uint16_t>{0x3f80, 0x4000}));
  b.Add("c.weight", "F32", {1}, AsBytes(std::vector<float>{9}));
  a.Write(dir.path() / "model-00001-of-00002.safetensors");
  b.Write(dir.path() / "model-00002-of-00002.safetensors");
  nlohmann::json index = {{"metadata", {{"total_size", 28}}},
                          {"weight_map",
                           {{"a.weight", "model-00001-of-00002.safetensors"},
                            {"b.weight", "model-00002-of-00002.safetensors"},
                            {"c.weight", "model-00002-of-00002.safetensors"}}}};
  testing::WriteText(dir.path() / "model.safetensors.index.json", index.dump());
  {
    const auto w = WeightSource::Open(dir.path());
    EXPECT_EQ(w->Names(), (std::vector<std::string>{"a.weight", "b.weight", "c.weight"}));
    EXPECT_EQ(w->ReadF32("a.weight", {1, 2}), (std::vector<float>{3, 4}));
    EXPECT_EQ(w->ReadF32("b.weight"), (std::vector<float>{1, 2}));
  }
  // A tensor the index puts in the wrong shard.
  index["weight_map"]["c.weight"] = "model-00001-of-00002.safetensors";
  testing::WriteText(dir.path() / "model.safetensors.index.json", index.dump());
  try {
    WeightSource::Open(dir.path());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kCorruptFile);
    EXPECT_NE(e.message().find("c.weight"), std::string::npos) << e.message();
  }
  // A missing shard.
  index["weight_map"]["c.weight"] = "model-00003-of-00003.safetensors";
  testing::WriteText(dir.path() / "model.safetensors.index.json", index.dump());
  try {
    WeightSource::Open(dir.path());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
    EXPECT_NE(e.message().find("model-00003-of-00003.safetensors"), std::string::npos);
  }
}

// Parses bytes and returns the error (or fails the test when none is thrown).
Error ParseError(const std::vector<uint8_t>& bytes) {
  try {
    ParseSafetensorsHeader(bytes, "bad.safetensors");
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("bad.safetensors"), std::string::npos) << e.message();
    return e;
  }
  ADD_FAILURE() << "no error";
  return Error(ErrorKind::kInternal, "none");
}

std::vector<uint8_t> WithHeader(const std::string& header, size_t data_bytes) {
  std::vector<uint8_t> out;
  testing::Append<uint64_t>(&out, header.size());
  testing::AppendRaw(&out, header.data(), header.size());
  out.resize(out.size() + data_bytes);
  return out;
}

TEST(SafetensorsBadFiles, ClearErrors) {
  auto message = [](const std::vector<uint8_t>& b) { return ParseError(b).message(); };
  EXPECT_NE(message({1, 2, 3}).find("too short"), std::string::npos);
  // Every truncation of a valid file fails cleanly.
  SafetensorsWriter w;
  w.Add("x", "F32", {2, 2}, AsBytes(std::vector<float>{1, 2, 3, 4}));
  const auto good = w.Build();
  EXPECT_NO_THROW(ParseSafetensorsHeader(good, "good"));
  for (size_t n = 0; n < good.size(); ++n) {
    EXPECT_EQ(ParseError({good.begin(), good.begin() + static_cast<long>(n)}).kind(),
              ErrorKind::kCorruptFile)
        << n;
  }
  EXPECT_NE(message(WithHeader(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},
    "y":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                               12))
                .find("overlap"),
            std::string::npos);
  EXPECT_NE(message(WithHeader(R"({"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8))
                .find("past the end"),
            std::string::npos);
  EXPECT_NE(message(WithHeader(R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8))
                .find("need 12"),
            std::string::npos);
  const Error unknown =
      ParseError(WithHeader(R"({"x":{"dtype":"F4_MX","shape":[2],"data_offsets":[0,1]}})", 1));
  EXPECT_EQ(unknown.kind(), ErrorKind::kUnsupported);
  EXPECT_NE(unknown.message().find("F4_MX"), std::string::npos);
  EXPECT_NE(message(WithHeader("{\"x\xff\":{}}", 0)).find("UTF-8"), std::string::npos);
  EXPECT_NE(message(WithHeader("[1,2]", 0)).find("not a JSON object"), std::string::npos);
  EXPECT_NE(message(WithHeader(R"({"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})", 0))
                .find("non-integer"),
            std::string::npos);
  std::vector<uint8_t> huge_len(16, 0);
  huge_len[7] = 0x7f;
  EXPECT_NE(message(huge_len).find("header length"), std::string::npos);
}

TEST(SafetensorsBadFiles, OpenNamesTheFile) {
  ScratchDir dir;
  const auto path = dir.path() / "model.safetensors";
  SafetensorsWriter w;
  w.Add("x", "F32", {256}, AsBytes(Iota(256)));
  auto bytes = w.Build();
  bytes.resize(bytes.size() - 100);  // truncated download
  testing::WriteBytes(path, bytes);
  try {
    SafetensorsFile::Open(path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kCorruptFile);
    EXPECT_NE(e.message().find(path.string()), std::string::npos);
    EXPECT_NE(e.message().find("truncated"), std::string::npos) << e.message();
  }
  EXPECT_THROW(SafetensorsFile::Open(dir.path() / "absent.safetensors"), Error);
}

}  // namespace
}  // namespace tg::model
