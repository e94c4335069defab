#include "training/lowp_linear.h"

#include "core/error.h"

namespace fathom::train {

std::string_view precision_name(Precision p) {
  switch (p) {
    case Precision::F32: return "f32";
    case Precision::BF16: return "bf16";
    case Precision::FP8: return "fp8";
  }
  return "?";
}

bool parse_precision(std::string_view s, Precision* out) {
  for (Precision p : {Precision::F32, Precision::BF16, Precision::FP8})
    if (s == precision_name(p)) {
      *out = p;
      return true;
    }
  return false;
}

namespace {

LowpFormat format_of(Precision p) { return p == Precision::FP8 ? LowpFormat::E4M3 : LowpFormat::BF16; }

LowpWorkspace& workspace(const LinearCtx& ctx) {
  if (!ctx.ws) fail("linear: {} precision needs a LowpWorkspace", precision_name(ctx.precision));
  return *ctx.ws;
}

}  // namespace

LinearIn keep_input(const LinearCtx& ctx, const float* x, int64_t N, int64_t I, LowpMatrix& store) {
  if (ctx.precision == Precision::F32) return {x, nullptr};
  lowp_quantize(ctx.ops, format_of(ctx.precision), 1, x, N, I, I, store);  // 1x128 tiles, as Fprop takes x
  return {nullptr, &store};
}

namespace {

// The input's 1x128 tiles: kept by the layer, or quantized from its f32 values into `scratch`.
const LowpMatrix& input_tiles(const LinearCtx& ctx, const LinearIn& inp, int64_t N, int64_t I, LowpMatrix& scratch) {
  if (inp.lowp) {
    if (inp.lowp->rows != N || inp.lowp->cols != I || inp.lowp->format != format_of(ctx.precision))
      fail("linear: the kept input is {}x{} {}, the call wants {}x{} {}", inp.lowp->rows, inp.lowp->cols,
           inp.lowp->format == LowpFormat::E4M3 ? "e4m3" : "bf16", N, I, precision_name(ctx.precision));
    return *inp.lowp;
  }
  if (!inp.f32) fail("linear: no input");
  lowp_quantize(ctx.ops, format_of(ctx.precision), 1, inp.f32, N, I, I, scratch);
  return scratch;
}

const float* f32_input(const LinearIn& inp) {
  if (!inp.f32) fail("linear: f32 precision needs the f32 input (this one was kept in low precision only)");
  return inp.f32;
}

}  // namespace

void linear_forward(const LinearCtx& ctx, float* out, const LinearIn& inp, const float* weight, int64_t N, int64_t I,
                    int64_t O) {
  if (ctx.precision == Precision::F32) return matmul_forward(ctx.ops, out, f32_input(inp), weight, N, I, O);
  LowpWorkspace& ws = workspace(ctx);
  const LowpFormat f = format_of(ctx.precision);
  const LowpMatrix& x = input_tiles(ctx, inp, N, I, ws.a);  // x [N, I]: 1x128 tiles
  LowpWorkspace::QuantizedWeight& wq = ws.weights[weight];
  lowp_quantize(ctx.ops, f, kLowpBlock, weight, O, I, I, wq.w);  // W: 128x128 blocks, kept for Dgrad
  wq.pass = ws.pass;
  lowp_transpose(ctx.ops, wq.w, ws.b);  // Wᵀ [I, O]: the same blocks, transposed
  lowp_gemm(ctx.ops, ws.path, x, ws.b, out, O, false);
}

void linear_backward(const LinearCtx& ctx, float* dinp, float* dweight, const float* dout, const LinearIn& inp,
                     const float* weight, int64_t N, int64_t I, int64_t O) {
  if (ctx.precision == Precision::F32)
    return matmul_backward(ctx.ops, dinp, dweight, dout, f32_input(inp), weight, N, I, O);
  if (N <= 0) return;
  LowpWorkspace& ws = workspace(ctx);
  const LowpFormat f = format_of(ctx.precision);
  if (dinp) {  // Dgrad: dx[N, I] += dy[N, O] · W[O, I]
    lowp_quantize(ctx.ops, f, 1, dout, N, O, O, ws.a);  // dy: 1x128 tiles
    const auto kept = ws.weights.find(weight);          // W: 128x128 blocks, as this pass's forward made them
    const bool fresh = kept != ws.weights.end() && kept->second.pass == ws.pass && kept->second.w.rows == O &&
                       kept->second.w.cols == I && kept->second.w.format == f;
    if (!fresh) lowp_quantize(ctx.ops, f, kLowpBlock, weight, O, I, I, ws.b);
    lowp_gemm(ctx.ops, ws.path, ws.a, fresh ? kept->second.w : ws.b, dinp, I, true);
  }
  // Wgrad: dW[O, I] += (dyᵀ)[O, N] · x[N, I], the reduction now over tokens.
  lowp_quantize_transposed(ctx.ops, f, 1, dout, N, O, ws.a);  // dyᵀ: 128x1 tiles of dy
  const LowpMatrix& x = input_tiles(ctx, inp, N, I, ws.x);     // the cached input as stored (1x128 tiles)
  ws.u.resize(size_t(N * I));
  lowp_dequantize(ctx.ops, x, ws.u.data());
  lowp_quantize(ctx.ops, f, kLowpBlock, ws.u.data(), N, I, I, ws.b, 1);  // re-tiled: 128x1 tiles of x
  lowp_gemm(ctx.ops, ws.path, ws.a, ws.b, dweight, I, true);
}

}  // namespace fathom::train
