// `fathom train --init` from any checkpoint fathom loads: the parameters read from an FP8 checkpoint
// equal e4m3 × its block's scale_inv (decoded here from the raw bytes), those read from a Q8_0
// checkpoint equal the Q8_0 reference dequantisation and stay within Q8_0's error of the source.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "io/checkpoint.h"
#include "model/model.h"
#include "model/quantize.h"
#include "model/tensor_schema.h"
#include "test_util.h"
#include "training/params.h"

namespace fathom::train {
namespace {

namespace fs = std::filesystem;

ModelConfig trainable_config(const io::Checkpoint& ck) {
  ModelConfig c = ModelConfig::from_json(ck.config_json(), ck.dir());
  c.quantization_config.reset();  // what run_training does for --init
  return c;
}

// One value of a tensor as stored: F32, BF16, or F8_E4M3 times its 128x128 block's scale_inv.
float stored_value(const io::Checkpoint& ck, const io::TensorView& t, int64_t i) {
  switch (t.dtype) {
    case DType::F32: return reinterpret_cast<const float*>(t.data)[i];
    case DType::BF16: return bf16_to_f32(reinterpret_cast<const uint16_t*>(t.data)[i]);
    case DType::F8_E4M3: {
      const io::TensorView& s = ck.get(t.name + "_scale_inv");
      const int64_t cols = t.shape[1], r = i / cols, c = i % cols;
      const float scale_inv = reinterpret_cast<const float*>(s.data)[(r / 128) * s.shape[1] + c / 128];
      return e4m3_to_f32(reinterpret_cast<const uint8_t*>(t.data)[i]) * scale_inv;
    }
    default: ADD_FAILURE() << t.name << " has an unexpected dtype"; return NAN;
  }
}

TEST(TrainInit, FromFp8EqualsTheBlockScaledWeights) {
  const std::string dir = test::synth_model("tiny-v3", SynthDType::FP8);
  io::Checkpoint ck(dir);
  ParamLayout layout(trainable_config(ck));
  std::vector<float> p(layout.numel(), NAN);
  load_params(layout, p.data(), dir);
  int fp8_tensors = 0;
  for (const ParamTensor& t : layout.tensors()) {
    const io::TensorView& v = ck.get(t.name);
    fp8_tensors += v.dtype == DType::F8_E4M3;
    for (int64_t i = 0; i < t.numel; ++i)
      ASSERT_EQ(p[t.offset + i], stored_value(ck, v, i)) << t.name << " [" << i << "]";
  }
  EXPECT_GT(fp8_tensors, 20);
}

TEST(TrainInit, FromQ8_0EqualsItsDequantisation) {
  const std::string src = test::synth_model("tiny-v3", SynthDType::BF16);
  const std::string dir = test::scratch_dir("train-init-q8_0");
  QuantizeOptions q;
  q.in_dir = src;
  q.out_dir = dir;
  q.type = QuantType::Q8_0;
  quantize_checkpoint(q);

  auto model = fathom::Model::load(dir);  // the inference view of the same file
  io::Checkpoint ck_src(src);
  ParamLayout layout(trainable_config(ck_src));
  std::vector<float> p(layout.numel(), NAN);
  load_params(layout, p.data(), dir);

  // Each parameter's view in the loaded model, by name.
  struct Views : TensorVisitor {
    std::map<std::string, const WeightMatrix*> m;
    std::map<std::string, const VectorView*> v;
    void matrix(const TensorSpec& t, WeightMatrix& f) override { m[t.name] = &f; }
    void vector(const TensorSpec& t, VectorView& f) override { v[t.name] = &f; }
  } views;
  ModelWeights w = model->weights();
  visit_tensors(model->config(), w, views);

  int quantized = 0;
  for (const ParamTensor& t : layout.tensors()) {
    const float* got = p.data() + t.offset;
    const io::TensorView& orig = ck_src.get(t.name);
    if (auto it = views.m.find(t.name); it != views.m.end()) {
      const WeightMatrix& wm = *it->second;
      ASSERT_EQ(wm.format, ops::WFormat::Q8_0) << t.name;
      ++quantized;
      std::vector<float> row(wm.cols);
      double err = 0, ref = 0;
      for (int64_t r = 0; r < wm.rows; ++r) {
        ops::dequant_row(wm, r, row.data());
        for (int64_t c = 0; c < wm.cols; ++c) {
          ASSERT_EQ(got[r * wm.cols + c], row[c]) << t.name << " [" << r << ", " << c << "]";
          const double d = double(got[r * wm.cols + c]) - stored_value(ck_src, orig, r * wm.cols + c);
          err += d * d;
          ref += double(row[c]) * row[c];
        }
      }
      EXPECT_LT(std::sqrt(err / ref), 0.01) << t.name << ": Q8_0 is within 1% of the source";
    } else {
      for (int64_t i = 0; i < t.numel; ++i)  // norms, router: copied exactly
        ASSERT_EQ(got[i], stored_value(ck_src, orig, i)) << t.name << " [" << i << "]";
    }
  }
  EXPECT_GT(quantized, 20);
}

// A checkpoint whose shapes differ from the model being trained is refused, naming the tensor.
TEST(TrainInit, ShapeMismatchNamesTheTensor) {
  const std::string dir = test::synth_model("tiny-v3", SynthDType::BF16);
  io::Checkpoint ck(dir);
  ModelConfig c = trainable_config(ck);
  c.moe_intermediate_size = 16;
  ParamLayout layout(c);
  std::vector<float> p(layout.numel());
  try {
    load_params(layout, p.data(), dir);
    FAIL() << "loaded mismatched shapes";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.layers.1.mlp.experts.0.gate_proj.weight"), std::string::npos)
        << e.what();
  }
}

// The command line end to end: train one step from the FP8 checkpoint; the result is an f32 model.
TEST(TrainInit, CliTrainsFromAnFp8Checkpoint) {
  const std::string ckpt = test::synth_model("tiny-v3", SynthDType::FP8);
  const std::string root = test::scratch_dir("train-init-cli");
  const std::string data = root + "/data", out = root + "/out";
  fs::create_directories(data);
  std::vector<uint32_t> tokens(600);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = uint32_t((i * 7 + 3) % 300);
  for (const char* f : {"train.bin", "val.bin"})
    std::ofstream(fs::path(data) / f, std::ios::binary)
        .write(reinterpret_cast<const char*>(tokens.data()), std::streamsize(tokens.size() * 4));
  std::ofstream(fs::path(data) / "meta.json")
      << R"({"vocab_size": 300, "eos_id": 1, "bos_id": 0, "tokenizer": "", "train_tokens": 600, "val_tokens": 600})";
  const std::string cmd = std::string(FATHOM_BINARY) + " train --init " + ckpt + " --data " + data + " --out " + out +
                          " --steps 1 --batch 1 --seq 8 --warmup 0 --eval-every 0 --threads 1 2>&1";
  ASSERT_EQ(0, std::system(cmd.c_str())) << cmd;
  const nlohmann::json cfg = io::read_json_file(out + "/config.json");
  EXPECT_FALSE(cfg.contains("quantization_config"));
  EXPECT_NO_THROW(fathom::Model::load(out));
}

}  // namespace
}  // namespace fathom::train
