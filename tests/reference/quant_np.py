"""fathom's quantized weight formats (`fathom quantize --type q8_0|q4_0`) decoded in plain NumPy,
written from the layout as documented (docs/MODELS.md, the comments of src/ops/quant/q8_0.h, q4_0.h,
block_groups.h), not from fathom's code: an independent dequantizer for the reference.

A quantized tensor is stored as U8 [rows, row_bytes]; the shard's metadata
"fathom.quant.<name>" = "Q8_0G:ROWSxCOLS" or "Q4_0G:ROWSxCOLS" says which format and the shape of
the float matrix. Each row, nb = ceil(cols / 32) blocks of 32 weights (the last one zero-padded):

    [nb x f16 scale d][nb x B bytes of quants]          Q8_0: B = 32, Q4_0: B = 16

Q8_0: byte u = q + 128, weight = d * q. Q4_0: byte j of a block holds element j in its low nibble and
element j + 16 in its high nibble, weight = d * (nibble - 8).

The quant bytes are interleaved four at a time inside groups of blocks: groups of 16 blocks while
16 remain, then one group each of 8, 4, 2, 1 for the binary digits of what is left. In a group of G
blocks starting at block g0, bytes 4k..4k+3 of block g0 + j are at g0 * B + (k * G + j) * 4.
"""

import numpy as np

BLOCK = 32
FORMATS = {"Q8_0G": 32, "Q4_0G": 16}  # tag -> quant bytes per block


def block_groups(nb):
    """[(first block, G)] in storage order."""
    full = nb // 16 * 16
    groups = [(b, 16) for b in range(0, full, 16)]
    first = full
    for g in (8, 4, 2, 1):
        if (nb - full) & g:
            groups.append((first, g))
            first += g
    return groups


def natural_blocks(qbytes, nb, B):
    """qbytes [rows, nb * B] as stored -> [rows, nb, B] with each block's bytes in natural order."""
    rows = qbytes.shape[0]
    out = np.empty((rows, nb, B), dtype=np.uint8)
    for first, G in block_groups(nb):
        group = qbytes[:, first * B:(first + G) * B].reshape(rows, B // 4, G, 4)  # [row, dword k, block j, byte]
        out[:, first:first + G, :] = group.transpose(0, 2, 1, 3).reshape(rows, G, B)
    return out


def parse_tag(tag):
    """'Q8_0G:12x64' -> ('Q8_0G', 12, 64)."""
    fmt, _, shape = tag.partition(":")
    if fmt not in FORMATS:
        raise ValueError(f"unknown fathom quant format {tag!r} (known: {', '.join(FORMATS)})")
    rows, cols = (int(x) for x in shape.split("x"))
    return fmt, rows, cols


def dequantize(raw, tag):
    """raw: U8 [rows, row_bytes]; tag: the metadata value. -> float64 [rows, cols]."""
    fmt, rows, cols = parse_tag(tag)
    B = FORMATS[fmt]
    nb = -(-cols // BLOCK)
    if raw.shape != (rows, nb * (2 + B)):
        raise ValueError(f"{tag}: stored shape {raw.shape}, expected {(rows, nb * (2 + B))}")
    raw = np.ascontiguousarray(raw, dtype=np.uint8)
    d = raw[:, :2 * nb].copy().view("<f2").astype(np.float64)  # [rows, nb]
    blocks = natural_blocks(raw[:, 2 * nb:], nb, B)
    if fmt == "Q8_0G":
        q = blocks.astype(np.int64) - 128  # [rows, nb, 32]
    else:
        lo = (blocks & 0x0F).astype(np.int64) - 8
        hi = (blocks >> 4).astype(np.int64) - 8
        q = np.concatenate([lo, hi], axis=2)  # elements 0..15, then 16..31
    w = (q * d[:, :, None]).reshape(rows, nb * BLOCK)
    return w[:, :cols]
