// fathom quantize: the quantized checkpoint loads, keeps router/norms exact, and its logits stay
// close to the original's (a wrong block layout or a lost fp8 scale would be off by ~100%).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <cstring>
#include <fstream>

#include "model/model.h"
#include "model/quantize.h"
#include "test_util.h"

using namespace fathom;

namespace {
// Median over positions of the per-position relative L2 error: robust to the odd token whose
// expert choice flips under quantization noise (a tiny random router has near-ties).
double median_position_error(const std::vector<float>& a, const std::vector<float>& b, int64_t V) {
  std::vector<double> e;
  for (size_t t = 0; t * V < a.size(); ++t) {
    double num = 0, den = 0;
    for (int64_t v = 0; v < V; ++v) {
      num += std::pow(a[t * V + v] - b[t * V + v], 2);
      den += std::pow(b[t * V + v], 2);
    }
    e.push_back(std::sqrt(num / den));
  }
  std::sort(e.begin(), e.end());
  return e[e.size() / 2];
}

std::vector<float> logits_of(const Model& m, const std::vector<int32_t>& ids, const Exec& ex) {
  std::vector<float> out(ids.size() * m.config().vocab_size);
  LatentCache c = m.make_cache(ids.size());
  m.forward(ex, ids.data(), ids.size(), c, AttentionPath::Expanded, out.data(), nullptr);
  return out;
}

// Overwrites every occurrence of `from` in the safetensors headers of dir's shards with `to` (same
// length, so offsets stay valid); returns how many were rewritten.
int rewrite_headers(const std::string& dir, const std::string& from, const std::string& to) {
  int rewritten = 0;
  for (auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() != ".safetensors") continue;
    std::fstream f(e.path(), std::ios::in | std::ios::out | std::ios::binary);
    std::string all((std::istreambuf_iterator<char>(f)), {});
    for (size_t p = all.find(from); p != std::string::npos && p < 200000; p = all.find(from, p + 1)) {
      f.seekp(std::streamoff(p));
      f.write(to.data(), std::streamsize(to.size()));
      ++rewritten;
    }
  }
  return rewritten;
}

}  // namespace

class Quantize : public ::testing::TestWithParam<std::tuple<SynthDType, QuantType>> {};

TEST_P(Quantize, LoadsAndStaysClose) {
  auto [dtype, type] = GetParam();
  std::string src = test::synth_model("tiny-v3", dtype);
  std::string dst = test::scratch_dir(std::string("quant_") + (type == QuantType::Q8_0 ? "q8" : "q4") +
                                      std::to_string(int(dtype)));
  std::filesystem::remove_all(dst);
  QuantizeOptions o;
  o.in_dir = src;
  o.out_dir = dst;
  o.type = type;
  quantize_checkpoint(o);
  auto a = Model::load(src), q = Model::load(dst);
  EXPECT_EQ(q->weights().layers[1].attn.o_proj.format, type == QuantType::Q8_0 ? ops::WFormat::Q8_0 : ops::WFormat::Q4_0);
  EXPECT_EQ(q->weights().lm_head.format, ops::WFormat::Q8_0);  // output stays at 8 bits
  EXPECT_EQ(q->weights().layers[1].moe.gate.weight, a->weights().layers[1].moe.gate.weight);  // router exact
  EXPECT_FALSE(q->config().quantization_config.has_value());
  std::vector<int32_t> ids = {0, 17, 250, 3, 3, 99, 180, 42, 7, 120, 11, 64};
  const int64_t V = a->config().vocab_size;
  double err = median_position_error(logits_of(*q, ids, Exec::oracle()), logits_of(*a, ids, Exec::oracle()), V);
  // Q4_0 costs ~9% per weight (ops_quant_test); through 3 random layers that is ~35% of the logits.
  // Uncorrelated logits (a layout bug) would be ~140%.
  EXPECT_LT(err, type == QuantType::Q8_0 ? 0.03 : 0.6) << err;
  EXPECT_GT(err, 1e-5);  // it really is quantized
}

INSTANTIATE_TEST_SUITE_P(Types, Quantize,
                         ::testing::Combine(::testing::Values(SynthDType::BF16, SynthDType::FP8),
                                            ::testing::Values(QuantType::Q8_0, QuantType::Q4_0)));

// --keep-fp8 on a DeepSeek-style mixed checkpoint (F8_E4M3 projections with weight_scale_inv, BF16
// embedding / lm_head / norms, F32 router bias): the FP8 weights and their scales travel unchanged,
// the BF16 matrices are quantized, and the result runs each tensor in its own format, with logits
// close to the original's.
TEST(Quantize, KeepFp8LeavesFp8WeightsAsTheyAre) {
  std::string src = test::synth_model("tiny-v3", SynthDType::FP8);
  std::string dst = test::scratch_dir("quant_keep_fp8");
  std::filesystem::remove_all(dst);
  QuantizeOptions o{src, dst, QuantType::Q4_0, false, true};
  quantize_checkpoint(o);
  auto a = Model::load(src), q = Model::load(dst);
  const ModelWeights &wa = a->weights(), &wq = q->weights();
  EXPECT_EQ(wa.layers[1].attn.o_proj.format, ops::WFormat::F8_E4M3);  // the source mixes formats
  EXPECT_EQ(wa.lm_head.format, ops::WFormat::BF16);
  ASSERT_EQ(wq.layers[1].attn.o_proj.format, ops::WFormat::F8_E4M3);
  EXPECT_EQ(wq.layers[0].mlp.down_proj.format, ops::WFormat::F8_E4M3);
  EXPECT_EQ(wq.lm_head.format, ops::WFormat::Q8_0);
  EXPECT_EQ(wq.embed_tokens.format, ops::WFormat::Q8_0);
  const ops::WeightMatrix &oa = wa.layers[1].attn.o_proj, &oq = wq.layers[1].attn.o_proj;
  EXPECT_EQ(0, std::memcmp(oa.data, oq.data, size_t(oa.rows * oa.cols)));
  const int64_t scales = ((oa.rows + 127) / 128) * ((oa.cols + 127) / 128);
  EXPECT_EQ(0, std::memcmp(oa.scale_inv, oq.scale_inv, size_t(scales) * sizeof(float)));
  EXPECT_TRUE(q->config().quantization_config.has_value());
  std::vector<int32_t> ids = {0, 17, 250, 3, 3, 99, 180, 42, 7, 120, 11, 64};
  const int64_t V = a->config().vocab_size;
  double err = median_position_error(logits_of(*q, ids, Exec::oracle()), logits_of(*a, ids, Exec::oracle()), V);
  EXPECT_LT(err, 0.03) << err;  // only embedding and lm_head are quantized, and at 8 bits
  EXPECT_GT(err, 1e-5);
}

TEST(Quantize, EarlierSequentialLayoutIsRefused) {
  // Files from before the block-interleaved layout carry "Q8_0:" / "Q4_0:" tags; their bytes would
  // read as garbage through today's kernels, so the loader names the tensor and says to re-quantize.
  std::string src = test::synth_model("tiny-v2-lite", SynthDType::BF16);
  std::string dst = test::scratch_dir("quant_old_layout");
  std::filesystem::remove_all(dst);
  QuantizeOptions o{src, dst, QuantType::Q4_0, false};
  quantize_checkpoint(o);
  // Same length: "G:" becomes ":" with a space before the opening quote.
  const int rewritten = rewrite_headers(dst, "\"Q8_0G:", " \"Q8_0:") + rewrite_headers(dst, "\"Q4_0G:", " \"Q4_0:");
  ASSERT_GT(rewritten, 0);
  try {
    Model::load(dst);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("layout of fathom before"), std::string::npos) << m;
    EXPECT_NE(m.find("run fathom quantize again"), std::string::npos) << m;
  }
}

TEST(Quantize, MissingQuantMetadataIsAnError) {
  // A U8 tensor without the fathom.quant metadata cannot be interpreted: clear error, not garbage.
  std::string src = test::synth_model("tiny-v2-lite", SynthDType::BF16);
  std::string dst = test::scratch_dir("quant_meta");
  std::filesystem::remove_all(dst);
  QuantizeOptions o{src, dst, QuantType::Q8_0, false};
  quantize_checkpoint(o);
  rewrite_headers(dst, "fathom.quant.", "fathom.QUANT.");
  try {
    Model::load(dst);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("metadata does not say how it is quantized"), std::string::npos) << e.what();
  }
}
