// The Linears of the decoder layers (and so of the MTP modules' layers) at a chosen training
// precision, DeepSeek-V3 §3.3:
//   f32   matmul_forward / matmul_backward (kernels.h): the oracle.
//   bf16  all three GEMMs on BF16 operands, f32 accumulation: the baseline DeepSeek measures against.
//   fp8   all three GEMMs on E4M3 operands (lowp_gemm.h), f32 accumulation promoted every 128:
//           Fprop  y  = x · Wᵀ      x in 1x128 tiles (per token), W in 128x128 blocks
//           Dgrad  dx = dy · W      dy in 1x128 tiles (per token), Wᵀ in 128x128 blocks
//           Wgrad  dW = dyᵀ · x     both re-tiled along the tokens: 128x1 tiles of dy and of x
//         x is the cached input as FP8 stores it: its 1x128 E4M3 tiles, dequantized and re-tiled
//         for Wgrad. A layer that keeps its input with keep_input() stores only those tiles (the
//         report: "activations cached for the backward pass of the Linears are stored in FP8"), and
//         the f32 values live in a buffer all layers share until they are quantized; an input
//         passed as f32 alone is quantized again in the backward, to the same bytes.
// Master weights and weight gradients stay f32. The embedding, output head, router, norms,
// attention core and MTP's eh_proj keep f32 (the report leaves them out of FP8).
#pragma once
#include <cstdint>
#include <string_view>
#include <unordered_map>

#include "training/lowp_gemm.h"

namespace fathom::train {

enum class Precision : uint8_t { F32, BF16, FP8 };
std::string_view precision_name(Precision p);
// "f32" | "bf16" | "fp8"; false for anything else.
bool parse_precision(std::string_view s, Precision* out);

// The quantized operands of one Linear call, reused by the next (storage grows during the first
// step, then stays).
struct LowpWorkspace {
  LowpPath path = LowpPath::Scalar;
  LowpMatrix a, b, x;
  std::vector<float> u;  // the cached input dequantized, to be re-tiled
  // Each Linear's weight as its forward quantized it (128x128 blocks), which Dgrad reuses: the same
  // weight and blocks, so the same bytes. An entry counts only in the pass (`pass`, which
  // new_pass() advances, as Model::step does before each forward) that quantized it.
  struct QuantizedWeight {
    LowpMatrix w;
    uint64_t pass = 0;
  };
  std::unordered_map<const float*, QuantizedWeight> weights;
  uint64_t pass = 1;
  void new_pass() { ++pass; }
};

struct LinearCtx {
  Ops ops;
  Precision precision = Precision::F32;
  LowpWorkspace* ws = nullptr;  // required unless f32
};

// A Linear's input [N, I] as its forward and backward passes read it: the f32 activation, or in
// bf16 / fp8 precision its quantized 1x128 tiles (keep_input), the form both passes multiply.
struct LinearIn {
  const float* f32 = nullptr;
  const LowpMatrix* lowp = nullptr;
  LinearIn() = default;
  LinearIn(const float* x) : f32(x) {}  // NOLINT: an f32 activation is a Linear input as it is
  LinearIn(const float* x, const LowpMatrix* tiles) : f32(x), lowp(tiles) {}
};

// The input x [N, I] as a layer keeps it for the backward pass: in f32 precision x itself (which
// must then stay unchanged until the backward); in bf16 / fp8, x quantized into `store` (1x128
// tiles), after which x may be overwritten.
LinearIn keep_input(const LinearCtx& ctx, const float* x, int64_t N, int64_t I, LowpMatrix& store);

// out[N, O] = inp[N, I] · weight[O, I]ᵀ
void linear_forward(const LinearCtx& ctx, float* out, const LinearIn& inp, const float* weight, int64_t N, int64_t I,
                    int64_t O);
// dinp[N, I] += dout · weight (skipped if dinp is null);  dweight[O, I] += doutᵀ · inp
void linear_backward(const LinearCtx& ctx, float* dinp, float* dweight, const float* dout, const LinearIn& inp,
                     const float* weight, int64_t N, int64_t I, int64_t O);

}  // namespace fathom::train
