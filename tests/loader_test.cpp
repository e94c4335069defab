// Loader validation: every malformed checkpoint gives one clear error naming what is wrong.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "model/model.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace fathom;
using nlohmann::json;

namespace {

void write_raw(const std::string& path, const std::string& header, size_t data_bytes, int64_t header_len_override = -1) {
  std::ofstream f(path, std::ios::binary);
  uint64_t len = header_len_override >= 0 ? uint64_t(header_len_override) : header.size();
  f.write(reinterpret_cast<const char*>(&len), 8);
  f << header;
  std::string data(data_bytes, '\0');
  f << data;
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

#define EXPECT_ERROR_CONTAINS(stmt, ...)                                   \
  do {                                                                     \
    std::string msg = error_of([&] { stmt; });                             \
    for (const std::string& part : std::initializer_list<std::string>{__VA_ARGS__}) EXPECT_NE(msg.find(part), std::string::npos) << msg; \
  } while (0)

}  // namespace

TEST(Safetensors, ReadsAValidFile) {
  std::string dir = test::scratch_dir("st_valid");
  std::string p = dir + "/a.safetensors";
  write_raw(p, R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"__metadata__":{"format":"pt"}})", 24);
  io::SafetensorsFile f(p);
  ASSERT_NE(f.find("w"), nullptr);
  EXPECT_EQ(f.find("w")->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(f.metadata().at("format"), "pt");
}

TEST(Safetensors, TruncatedFile) {
  std::string p = test::scratch_dir("st_trunc") + "/a.safetensors";
  std::ofstream(p) << "abc";
  EXPECT_ERROR_CONTAINS(io::SafetensorsFile{p}, "a.safetensors", "truncated");
}

TEST(Safetensors, HeaderLengthPastEnd) {
  std::string p = test::scratch_dir("st_hlen") + "/a.safetensors";
  write_raw(p, "{}", 0, 1 << 20);
  EXPECT_ERROR_CONTAINS(io::SafetensorsFile{p}, "a.safetensors", "header length");
}

TEST(Safetensors, HeaderNotJson) {
  std::string p = test::scratch_dir("st_json") + "/a.safetensors";
  write_raw(p, "{not json", 0);
  EXPECT_ERROR_CONTAINS(io::SafetensorsFile{p}, "a.safetensors", "JSON");
}

TEST(Safetensors, OffsetsPastEnd) {
  std::string p = test::scratch_dir("st_off") + "/a.safetensors";
  write_raw(p, R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})", 10);
  EXPECT_ERROR_CONTAINS(io::SafetensorsFile{p}, "a.safetensors", "'w'", "past the end");
}

TEST(Safetensors, SizeDisagreesWithShape) {
  std::string p = test::scratch_dir("st_size") + "/a.safetensors";
  write_raw(p, R"({"w":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,24]}})", 24);
  EXPECT_ERROR_CONTAINS(io::SafetensorsFile{p}, "'w'", "needs 12");
}

TEST(Safetensors, UnknownDtypeAndOverlap) {
  std::string p = test::scratch_dir("st_dtype") + "/a.safetensors";
  write_raw(p, R"({"w":{"dtype":"Q9","shape":[1],"data_offsets":[0,1]}})", 1);
  EXPECT_ERROR_CONTAINS(io::SafetensorsFile{p}, "'w'", "unknown dtype");
  write_raw(p, R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12);
  EXPECT_ERROR_CONTAINS(io::SafetensorsFile{p}, "overlap");
}

TEST(Safetensors, WriterRoundTrip) {
  std::string p = test::scratch_dir("st_write") + "/w.safetensors";
  io::SafetensorsWriter w(p);
  w.add("x", DType::F32, {3});
  w.add("y", DType::BF16, {2, 2});
  w.begin();
  float x[3] = {1, 2, 3};
  uint16_t y[4] = {0x3F80, 0x4000, 0x4040, 0x4080};
  w.write("x", x, 8);       // in two chunks
  w.write("x", x + 2, 4);
  w.write("y", y, 8);
  w.finish();
  io::SafetensorsFile f(p);
  float back[3];
  std::memcpy(back, f.find("x")->data, 12);
  EXPECT_EQ(back[2], 3.0f);
  EXPECT_EQ(uint64_t(f.find("x")->data - (const uint8_t*)nullptr) % 8, 0u);  // data is 8-byte aligned
  EXPECT_EQ(f.find("y")->dtype, DType::BF16);
}

class CheckpointErrors : public ::testing::Test {
 protected:
  // A fresh copy of a valid tiny V3 fp8 checkpoint to break.
  std::string fresh(const std::string& name) {
    std::string src = test::synth_model("tiny-v3", SynthDType::FP8);
    std::string dst = test::scratch_dir("ckpt_" + name);
    for (auto& e : fs::directory_iterator(src)) fs::copy(e.path(), fs::path(dst) / e.path().filename());
    return dst;
  }
  static json load(const std::string& p) { return json::parse(std::ifstream(p)); }
  static void save(const std::string& p, const json& j) { std::ofstream(p) << j.dump(); }
};

TEST_F(CheckpointErrors, ValidLoads) {
  auto m = Model::load(fresh("valid"));
  EXPECT_EQ(m->config().model_type, "deepseek_v3");
  EXPECT_EQ(m->weights().mtp.size(), 1u);
}

TEST_F(CheckpointErrors, MissingDirectoryAndConfig) {
  EXPECT_ERROR_CONTAINS(Model::load("/nonexistent/model"), "/nonexistent/model", "not a model directory");
  std::string d = fresh("noconfig");
  fs::remove(d + "/config.json");
  EXPECT_ERROR_CONTAINS(Model::load(d), "missing config.json");
}

TEST_F(CheckpointErrors, UnknownModelType) {
  std::string d = fresh("type");
  json c = load(d + "/config.json");
  c["model_type"] = "llama";
  save(d + "/config.json", c);
  EXPECT_ERROR_CONTAINS(Model::load(d), "config.json", "unsupported model_type 'llama'");
}

TEST_F(CheckpointErrors, BadConfigField) {
  std::string d = fresh("field");
  json c = load(d + "/config.json");
  c["topk_method"] = "magic";
  save(d + "/config.json", c);
  EXPECT_ERROR_CONTAINS(Model::load(d), "config.json", "topk_method", "magic");
  c = load(fresh("field2") + "/config.json");
  c["hidden_size"] = "big";
  save(d + "/config.json", c);
  EXPECT_ERROR_CONTAINS(Model::load(d), "hidden_size", "integer");
}

TEST_F(CheckpointErrors, MissingTensor) {
  std::string d = fresh("missing");
  // Rewrite the index without one tensor and without its data: rename it inside the shard header.
  json idx = load(d + "/model.safetensors.index.json");
  std::string name = "model.layers.1.mlp.experts.3.up_proj.weight";
  std::string shard = idx["weight_map"][name];
  idx["weight_map"].erase(name);
  save(d + "/model.safetensors.index.json", idx);
  std::fstream f(d + "/" + shard, std::ios::in | std::ios::out | std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(f)), {});
  size_t pos = all.find(name);
  ASSERT_NE(pos, std::string::npos);
  f.seekp(std::streamoff(pos + name.size() - 6));
  f.write("XXXXXX", 6);  // "...up_proj.weight" -> "...up_proj.XXXXXX"
  f.close();
  EXPECT_ERROR_CONTAINS(Model::load(d), name, "missing tensor", "[32, 64]");
}

TEST_F(CheckpointErrors, WrongShape) {
  std::string d = fresh("shape");
  json c = load(d + "/config.json");
  c["moe_intermediate_size"] = 48;
  save(d + "/config.json", c);
  EXPECT_ERROR_CONTAINS(Model::load(d), "mlp.experts.0.gate_proj.weight", "shape [32, 64]", "expected [48, 64]");
}

TEST_F(CheckpointErrors, WrongDtype) {
  std::string d = fresh("dtype");
  json idx = load(d + "/model.safetensors.index.json");
  std::string name = "model.norm.weight";
  std::string shard = idx["weight_map"][name];
  std::fstream f(d + "/" + shard, std::ios::in | std::ios::out | std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(f)), {});
  size_t pos = all.find("\"" + name + "\":{\"data_offsets\"");
  if (pos == std::string::npos) pos = all.find("\"" + name + "\"");
  size_t dt = all.find("\"dtype\":\"BF16\"", pos);
  ASSERT_NE(dt, std::string::npos);
  f.seekp(std::streamoff(dt + 9));
  f.write("I16\" ", 5);  // BF16 -> I16 keeps the byte count (2), so only the dtype check can catch it
  f.close();
  EXPECT_ERROR_CONTAINS(Model::load(d), name, "dtype I16");
}

TEST_F(CheckpointErrors, TruncatedShard) {
  std::string d = fresh("trunc");
  std::string shard = d + "/model-00002-of-00003.safetensors";
  fs::resize_file(shard, fs::file_size(shard) - 100);
  EXPECT_ERROR_CONTAINS(Model::load(d), "model-00002-of-00003.safetensors", "past the end");
}

TEST_F(CheckpointErrors, MissingScaleInv) {
  std::string d = fresh("scale");
  json idx = load(d + "/model.safetensors.index.json");
  std::string name = "model.layers.0.self_attn.o_proj.weight_scale_inv";
  std::string shard = idx["weight_map"][name];
  idx["weight_map"].erase(name);
  save(d + "/model.safetensors.index.json", idx);
  std::fstream f(d + "/" + shard, std::ios::in | std::ios::out | std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(f)), {});
  size_t pos = all.find(name);
  f.seekp(std::streamoff(pos + name.size() - 3));
  f.write("XYZ", 3);
  f.close();
  EXPECT_ERROR_CONTAINS(Model::load(d), name, "block scales");
}

TEST_F(CheckpointErrors, IndexNamesMissingShard) {
  std::string d = fresh("shard");
  fs::remove(d + "/model-00003-of-00003.safetensors");
  EXPECT_ERROR_CONTAINS(Model::load(d), "model-00003-of-00003.safetensors", "missing");
}

// A shard name that names the model directory itself or a folder in it is an error naming the
// index or the path, not a raw filesystem exception from reading a directory's size.
TEST_F(CheckpointErrors, IndexShardNameIsADirectory) {
  for (const std::string bad : {".", "", "sub"}) {
    std::string d = fresh("shard_dir");
    fs::create_directories(d + "/sub");
    json idx = load(d + "/model.safetensors.index.json");
    idx["weight_map"]["model.embed_tokens.weight"] = bad;
    save(d + "/model.safetensors.index.json", idx);
    if (bad == "sub")
      EXPECT_ERROR_CONTAINS(Model::load(d), "sub", "not a file");
    else
      EXPECT_ERROR_CONTAINS(Model::load(d), "model.safetensors.index.json", "plain file name");
  }
}
