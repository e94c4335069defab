"""DeepSeek-V3's mixed-precision Linear (report §3.3), emulated from the paper in NumPy (PyTorch
1.13 has no float8), for torch_train.py --precision and the checks against fathom.

  E4M3 ("fn"): 1 sign, 4 exponent (bias 7), 3 mantissa bits; no infinities, largest 448, smallest
  subnormal 2^-9. Rounding to nearest even, saturating at +-448.
  Tiles: activations and output gradients per 1x128 (one row, 128 columns of the reduction
  dimension), weights per 128x128 block; scale = max|x| / 448 over the tile (1 for a zero tile),
  q = E4M3(x / scale) with x / scale computed in float32.
  Fprop y = x W^T, Dgrad dx = dy W, Wgrad dW = dy^T x, each from quantized operands; Wgrad takes
  both along the tokens (128x1 tiles of dy and of x), x being the cached input as FP8 stores it
  (its 1x128 tiles, dequantized). Products and sums here are float64, so these are the exact
  results the f32-accumulating kernels approximate.
  bf16: operands rounded to BF16 (nearest even), no scales.
"""

import numpy as np

BLOCK = 128
E4M3_MAX = 448.0


def e4m3_round(x):
    """float32 array -> float32 array of E4M3 values (round to nearest even, saturate)."""
    a = np.abs(x.astype(np.float64))
    _, p = np.frexp(a)  # a = m 2^p, m in [0.5, 1): the binade's exponent is p - 1
    e = np.maximum(p - 1, -6)  # below 2^-6 the subnormal spacing 2^-9 applies
    step = np.ldexp(1.0, e - 3)  # 3 mantissa bits
    r = np.minimum(np.round(a / step) * step, E4M3_MAX)  # np.round: halves to even
    return (np.sign(x) * r).astype(np.float32)


def bf16_round(x):
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16
    return u.astype(np.uint32).view(np.float32)


def quantize(x, row_group):
    """x float32 [R, C] -> (values float64 [R, C] = q * scale, q float32, scales float32)."""
    R, C = x.shape
    G, B = (R + row_group - 1) // row_group, (C + BLOCK - 1) // BLOCK
    padded = np.zeros((G * row_group, B * BLOCK), np.float32)
    padded[:R, :C] = x
    tiles = padded.reshape(G, row_group, B, BLOCK)
    amax = np.abs(tiles).max(axis=(1, 3))  # [G, B], float32
    scales = np.where(amax > 0, amax / np.float32(E4M3_MAX), np.float32(1.0)).astype(np.float32)
    s = scales[:, None, :, None]
    q = e4m3_round((tiles / s).astype(np.float32))  # the division in float32
    deq = q.astype(np.float64) * s.astype(np.float64)
    return (deq.reshape(G * row_group, B * BLOCK)[:R, :C], q.reshape(G * row_group, B * BLOCK)[:R, :C], scales)


def operand(x, row_group, precision):
    """The values a GEMM multiplies: x [R, C] (any float array) as the precision stores it."""
    x32 = np.ascontiguousarray(x, dtype=np.float32)
    if precision == "fp8":
        return quantize(x32, row_group)[0]
    return bf16_round(x32).astype(np.float64)


def linear_passes(x, w, dy, precision):
    """y, dx, dW of y = x w^T (x [N, I], w [O, I], dy [N, O]) at `precision`, float64."""
    y = operand(x, 1, precision) @ operand(w, BLOCK, precision).T
    dx = operand(dy, 1, precision) @ operand(w.T, BLOCK, precision).T
    stored = operand(x, 1, precision).astype(np.float32)  # the cached input, dequantized
    dw = operand(dy.T, 1, precision) @ operand(stored.T, 1, precision).T
    return y, dx, dw
