"""A small, independent safetensors reader/writer in plain NumPy (no torch, no safetensors package).

File layout (https://github.com/huggingface/safetensors):
    8 bytes   little-endian u64 N = header length
    N bytes   JSON header: {name: {"dtype": D, "shape": [...], "data_offsets": [begin, end]}, ...,
              optional "__metadata__": {str: str}}
    rest      tensor data; data_offsets are relative to the first byte after the header.

Dtypes handled: F64, F32, F16, BF16, F8_E4M3 (e4m3fn), F8_E5M2, and the integer types.
Every float tensor is decoded to float64 by `decode`; fp8 is decoded with 256-entry tables computed
here from the bit formulas (never from a library).

Model directories (Hugging Face layout): config.json plus model.safetensors.index.json (weight_map:
name -> shard file) or a single model.safetensors. `ModelDir.weight(name)` returns the dequantised
float64 matrix; FP8 weights with a `<name>_scale_inv` companion (F32, [ceil(out/128), ceil(in/128)])
are multiplied block-wise by it: W[i, j] = fp8(W[i, j]) * scale_inv[i // 128, j // 128].
"""

import json
import math
import os
import struct

import numpy as np

# ----------------------------------------------------------------------------------------------
# fp8 tables, from the bit formulas


def _e4m3fn_value(code):
    """OCP FP8 E4M3 'fn' variant: 1 sign, 4 exponent (bias 7), 3 mantissa; subnormals; no inf;
    S.1111.111 is NaN; max finite 448."""
    sign = -1.0 if code & 0x80 else 1.0
    exp = (code >> 3) & 0xF
    man = code & 0x7
    if exp == 0xF and man == 0x7:
        return math.nan
    if exp == 0:
        return sign * (man / 8.0) * 2.0 ** (1 - 7)
    return sign * (1.0 + man / 8.0) * 2.0 ** (exp - 7)


def _e5m2_value(code):
    """FP8 E5M2: 1 sign, 5 exponent (bias 15), 2 mantissa; IEEE-like with inf and NaN."""
    sign = -1.0 if code & 0x80 else 1.0
    exp = (code >> 2) & 0x1F
    man = code & 0x3
    if exp == 0x1F:
        return sign * math.inf if man == 0 else math.nan
    if exp == 0:
        return sign * (man / 4.0) * 2.0 ** (1 - 15)
    return sign * (1.0 + man / 4.0) * 2.0 ** (exp - 15)


E4M3_TABLE = np.array([_e4m3fn_value(c) for c in range(256)], dtype=np.float64)
E5M2_TABLE = np.array([_e5m2_value(c) for c in range(256)], dtype=np.float64)
E4M3_MAX = 448.0

# positive finite e4m3 values (codes 0x00..0x7E), ascending in code order
_E4M3_POS = E4M3_TABLE[:0x7F]


def encode_e4m3(x):
    """float -> e4m3fn codes (uint8): round to nearest, ties to even (even code = even mantissa),
    saturating to +-448; NaN -> 0x7F."""
    x = np.asarray(x, dtype=np.float64)
    mag = np.minimum(np.abs(x), E4M3_MAX)
    hi = np.searchsorted(_E4M3_POS, mag, side="left")  # first value >= mag
    hi = np.minimum(hi, 0x7E)
    lo = np.maximum(hi - 1, 0)
    d_lo = mag - _E4M3_POS[lo]
    d_hi = _E4M3_POS[hi] - mag
    pick_hi = (d_hi < d_lo) | ((d_hi == d_lo) & (hi % 2 == 0))
    code = np.where(pick_hi, hi, lo).astype(np.uint8)
    code = np.where(np.signbit(x), code | 0x80, code).astype(np.uint8)
    code = np.where(np.isnan(x), np.uint8(0x7F), code).astype(np.uint8)
    return code


def decode_e4m3(codes):
    return E4M3_TABLE[np.asarray(codes, dtype=np.uint8)]


def decode_e5m2(codes):
    return E5M2_TABLE[np.asarray(codes, dtype=np.uint8)]


# ----------------------------------------------------------------------------------------------
# bf16


def encode_bf16(x):
    """float -> bf16 bit patterns (uint16), round to nearest even (via float32 first)."""
    u = np.ascontiguousarray(np.asarray(x, dtype=np.float32)).view(np.uint32).astype(np.uint64)
    rounding = ((u >> 16) & 1) + 0x7FFF
    out = ((u + rounding) >> 16).astype(np.uint16)
    nan = np.isnan(np.asarray(x, dtype=np.float32))
    return np.where(nan, np.uint16(0x7FC0), out).astype(np.uint16)


def decode_bf16(bits):
    bits = np.asarray(bits, dtype=np.uint16)
    return (bits.astype(np.uint32) << 16).view(np.float32).astype(np.float64)


# ----------------------------------------------------------------------------------------------
# dtype metadata

# safetensors dtype -> (bytes per element, numpy storage dtype)
DTYPES = {
    "F64": (8, np.dtype("<f8")),
    "F32": (4, np.dtype("<f4")),
    "F16": (2, np.dtype("<f2")),
    "BF16": (2, np.dtype("<u2")),
    "F8_E4M3": (1, np.dtype("u1")),
    "F8_E5M2": (1, np.dtype("u1")),
    "I64": (8, np.dtype("<i8")),
    "I32": (4, np.dtype("<i4")),
    "I16": (2, np.dtype("<i2")),
    "I8": (1, np.dtype("i1")),
    "U8": (1, np.dtype("u1")),
    "BOOL": (1, np.dtype("u1")),
}


def decode(raw, dtype):
    """Storage array (as read) -> float64 values."""
    if dtype == "BF16":
        return decode_bf16(raw)
    if dtype == "F8_E4M3":
        return decode_e4m3(raw)
    if dtype == "F8_E5M2":
        return decode_e5m2(raw)
    return raw.astype(np.float64)


def encode(x, dtype):
    """float array -> storage array for `dtype`."""
    x = np.asarray(x)
    if dtype == "BF16":
        return encode_bf16(x)
    if dtype == "F8_E4M3":
        return encode_e4m3(x)
    if dtype == "F8_E5M2":
        raise NotImplementedError("F8_E5M2 encoding is not needed by the tests")
    return x.astype(DTYPES[dtype][1])


# ----------------------------------------------------------------------------------------------
# single file


class SafetensorsFile:
    """Reads one .safetensors file; tensors come back as storage arrays or decoded float64."""

    def __init__(self, path):
        self.path = path
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) != 8:
                raise ValueError(f"{path}: shorter than the 8-byte header length")
            (n,) = struct.unpack("<Q", head)
            if n > size - 8:
                raise ValueError(f"{path}: header length {n} exceeds the file")
            header = json.loads(f.read(n).decode("utf-8"))
        self.metadata = header.pop("__metadata__", None) or {}
        self.header = header
        self.data_start = 8 + n
        self._mm = np.memmap(path, dtype=np.uint8, mode="r")
        for name, info in header.items():
            nbytes, _ = DTYPES[info["dtype"]]
            b, e = info["data_offsets"]
            count = int(np.prod(info["shape"], dtype=np.int64))
            if e - b != count * nbytes or self.data_start + e > size or b > e:
                raise ValueError(f"{path}: tensor {name}: bad data_offsets {b},{e}")

    def names(self):
        return list(self.header.keys())

    def info(self, name):
        return self.header[name]

    def raw(self, name):
        info = self.header[name]
        _, np_dtype = DTYPES[info["dtype"]]
        b, e = info["data_offsets"]
        buf = self._mm[self.data_start + b : self.data_start + e]
        return np.frombuffer(buf.tobytes(), dtype=np_dtype).reshape(info["shape"])

    def get(self, name):
        """Decoded float64 array."""
        return decode(self.raw(name), self.header[name]["dtype"])


def write_safetensors(path, tensors, metadata=None):
    """tensors: ordered dict name -> (safetensors dtype, array). Float arrays are encoded to the
    dtype (bf16 / fp8 rounding to nearest even); arrays already in storage form are written as is.
    The header is padded with spaces to a multiple of 8 bytes, as the reference writer does."""
    header = {}
    blobs = []
    offset = 0
    for name, (dtype, arr) in tensors.items():
        arr = np.asarray(arr)
        _, np_dtype = DTYPES[dtype]
        if arr.dtype != np_dtype:
            arr = encode(arr, dtype)
        data = np.ascontiguousarray(arr.astype(np_dtype, copy=False)).tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata is not None:
        header = {"__metadata__": metadata, **header}
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((8 - len(hjson) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)
    return offset


# ----------------------------------------------------------------------------------------------
# model directory


class ModelDir:
    """A Hugging Face model directory: config.json + index + shards, or a single model.safetensors."""

    BLOCK = 128

    def __init__(self, path):
        self.path = path
        with open(os.path.join(path, "config.json")) as f:
            self.config = json.load(f)
        index = os.path.join(path, "model.safetensors.index.json")
        self._files = {}
        self.where = {}
        if os.path.exists(index):
            with open(index) as f:
                weight_map = json.load(f)["weight_map"]
            for name, shard in weight_map.items():
                self.where[name] = shard
        else:
            single = "model.safetensors"
            for name in self._file(single).names():
                self.where[name] = single

    def _file(self, shard):
        if shard not in self._files:
            self._files[shard] = SafetensorsFile(os.path.join(self.path, shard))
        return self._files[shard]

    def has(self, name):
        return name in self.where

    def dtype(self, name):
        return self._file(self.where[name]).info(name)["dtype"]

    def raw(self, name):
        return self._file(self.where[name]).raw(name)

    def tensor(self, name):
        """Decoded float64 values, exactly as stored (no dequantisation scale)."""
        if name not in self.where:
            raise KeyError(f"{self.path}: tensor {name} not found")
        return self._file(self.where[name]).get(name)

    def digest(self):
        """sha256 over every tensor's name, dtype, shape and bytes (sorted by name): identifies the
        model independently of how it is sharded or how the headers are formatted."""
        import hashlib

        h = hashlib.sha256()
        for name in sorted(self.where):
            info = self._file(self.where[name]).info(name)
            h.update(f"{name}|{info['dtype']}|{info['shape']}|".encode())
            h.update(np.ascontiguousarray(self.raw(name)).tobytes())
        return h.hexdigest()

    def quant_tag(self, name):
        """fathom's quantized format of `name` ("Q8_0G:ROWSxCOLS", from its shard's metadata), or None."""
        return self._file(self.where[name]).metadata.get("fathom.quant." + name)

    def weight(self, name):
        """A weight ready to use: fp8 weights are multiplied by their 128x128 block scale_inv, and
        fathom's Q8_0 / Q4_0 weights are dequantized (quant_np.py)."""
        tag = self.quant_tag(name) if name in self.where else None
        if tag is not None:
            import quant_np

            return quant_np.dequantize(self.raw(name), tag)
        w = self.tensor(name)
        scale_name = name + "_scale_inv"
        if self.dtype(name) in ("F8_E4M3", "F8_E5M2") and self.has(scale_name):
            w = dequantize_blocks(w, self.tensor(scale_name), self.BLOCK)
        return w


def dequantize_blocks(w, scale_inv, block=128):
    """W[i, j] * scale_inv[i // block, j // block]; partial edge blocks use their block's scale."""
    rows, cols = w.shape
    br, bc = -(-rows // block), -(-cols // block)
    if scale_inv.shape != (br, bc):
        raise ValueError(f"scale_inv shape {scale_inv.shape} does not match weight {w.shape} in {block}-blocks")
    full = np.repeat(np.repeat(scale_inv, block, axis=0), block, axis=1)[:rows, :cols]
    return w * full
