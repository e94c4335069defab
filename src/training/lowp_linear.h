// The Linears of the decoder layers (and so of the MTP modules' layers) at a chosen training
// precision, DeepSeek-V3 §3.3:
//   f32   matmul_forward / matmul_backward (kernels.h): the oracle.
//   bf16  all three GEMMs on BF16 operands, f32 accumulation: the baseline DeepSeek measures against.
//   fp8   all three GEMMs on E4M3 operands (lowp_gemm.h), f32 accumulation promoted every 128:
//           Fprop  y  = x · Wᵀ      x in 1x128 tiles (per token), W in 128x128 blocks
//           Dgrad  dx = dy · W      dy in 1x128 tiles (per token), Wᵀ in 128x128 blocks
//           Wgrad  dW = dyᵀ · x     both re-tiled along the tokens: 128x1 tiles of dy and of x
//         x is the cached input as FP8 stores it: its 1x128 E4M3 tiles, dequantized and re-tiled
//         for Wgrad (the backward recomputes the same bytes the forward quantized; the f32 copy
//         the arena keeps for the other layers is not read by the Linear's backward).
// Master weights and weight gradients stay f32. The embedding, output head, router, norms,
// attention core and MTP's eh_proj keep f32 (the report leaves them out of FP8).
#pragma once
#include <cstdint>
#include <string_view>

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
};

struct LinearCtx {
  Ops ops;
  Precision precision = Precision::F32;
  LowpWorkspace* ws = nullptr;  // required unless f32
};

// out[N, O] = inp[N, I] · weight[O, I]ᵀ
void linear_forward(const LinearCtx& ctx, float* out, const float* inp, const float* weight, int64_t N, int64_t I,
                    int64_t O);
// dinp[N, I] += dout · weight (skipped if dinp is null);  dweight[O, I] += doutᵀ · inp
void linear_backward(const LinearCtx& ctx, float* dinp, float* dweight, const float* dout, const float* inp,
                     const float* weight, int64_t N, int64_t I, int64_t O);

}  // namespace fathom::train
