#!/usr/bin/env python3
"""Fails when an object file holds instructions its row of src/cpu/kernel_isa.def does not allow.

An object compiled from *_<suffix>.cpp, where <suffix> is a row of the table, may use the extensions
that row names; every other object is base x86-64-v3 and may hold no AVX-512 instruction at all. The
compiler emits only what its flags allow, so a violation means flags wider than the dispatch
condition (a stray -m option, a target pragma or attribute, inline assembly): on a CPU that passes
dispatch but lacks the extension, that instruction would crash with SIGILL.

Usage: check_kernel_isa.py --table kernel_isa.def [--objdump objdump] [--stamp FILE] OBJECT...
With --stamp, what each object uses is cached beside the stamp (by size and modification time), so a
rebuild disassembles only the objects that changed.
"""
import argparse
import concurrent.futures
import json
import os
import re
import subprocess
import sys

# Extensions beyond x86-64-v3 that a compiler might emit, each with the mnemonics (Intel syntax) that
# need it. Any EVEX-encoded instruction needs AVX-512 F; every row of the table that has F also has
# BW, VL and DQ, so those are not told apart here (a row without them would need them split out).
EXTENSIONS = {
    "avx512vnni": r"vpdp(busds?|wssds?)",  # EVEX form; the VEX form is AVX-VNNI (below)
    "avx512vbmi": r"vperm(b|i2b|t2b)|vpmultishiftqb",
    "avx512vbmi2": r"vp(compress|expand)[bw]|vpsh[lr]dv?[wdq]",
    "avx512bitalg": r"vpopcnt[bw]|vpshufbitqmb",
    "avx512vpopcntdq": r"vpopcnt[dq]",
    "avx512ifma": r"vpmadd52[lh]uq",  # EVEX form; the VEX form is AVX-IFMA
    "avx512cd": r"vpconflict[dq]|vplzcnt[dq]|vpbroadcastm(b2q|w2d)",
    "avx512bf16": r"vdpbf16ps|vcvtne2?ps2bf16",
    # Half-precision arithmetic and conversions, all but F16C's vcvtph2ps/vcvtps2ph (which AVX-512 F
    # also has in EVEX form): vaddph, vfmadd231sh, vcvtph2psx, vcvtps2phx, vmovw, ...
    "avx512fp16": r"(?!vcvtph2ps$|vcvtps2ph$)(v\w*(ph|sh)x?|vmovw|vcvt\w*2ph\w*|vcvtph2\w+)",
    "avx512er": r"vexp2p[sd]|vrcp28\w+|vrsqrt28\w+",
    "avx512pf": r"v(gather|scatter)pf[01]\w+",
    "avx5124fmaps": r"v4fn?madd[ps]s",
    "avx5124vnniw": r"vp4dpwssds?",
    "avx512vp2intersect": r"vp2intersect[dq]",
    "avxvnni": None,  # VEX vpdpbusd & co., told apart from avx512vnni by encoding
    "avxifma": None,
    "avxneconvert": r"vbcstne\w+|vcvtne(e|o)\w+",  # and VEX vcvtneps2bf16
    "avxvnniint8": r"vpdpb(ss|su|uu)ds?",
    "amx": r"ldtilecfg|sttilecfg|tile(zero|loadd\w*|stored|release)|tdp\w+",
    "gfni": r"v?gf2p8\w+",
    "aes": r"v?aes\w+",
    "pclmul": r"v?pclmul\w*",
    "sha": r"sha(1|256)\w+",
}
PATTERNS = {name: re.compile(rf"(?:{rx})$") for name, rx in EXTENSIONS.items() if rx}
VEX_TWINS = {"avx512vnni": "avxvnni", "avx512ifma": "avxifma", "avx512bf16": "avxneconvert"}

# Legacy prefixes that may stand before an EVEX prefix (0x62) without changing its meaning.
SKIPPABLE_PREFIXES = {0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65, 0x67}
MNEMONIC_PREFIXES = {"rep", "repz", "repnz", "repe", "repne", "lock", "notrack", "bnd", "data16",
                     "addr32", "cs", "ds", "es", "fs", "gs", "ss", "{vex}", "{vex3}", "{evex}"}


def read_table(path):
    rows = {}
    with open(path) as f:
        for line in f:
            m = re.match(r"\s*FATHOM_KERNEL_ISA\(([^)]*)\)", line)
            if m:
                names = [n.strip() for n in m.group(1).split(",")]
                rows[names[0]] = set(names[1:])
    if not rows:
        sys.exit(f"check_kernel_isa: no FATHOM_KERNEL_ISA rows in {path}")
    return rows


def row_of(obj, rows):
    """The row an object belongs to: its source's name ends in _<suffix>.cpp (CMake names objects
    <source>.o), or None for the base."""
    m = re.search(r"_([a-z0-9]+)\.c(pp|c)?\.o(bj)?$", os.path.basename(obj))
    return m.group(1) if m and m.group(1) in rows else None


def extensions_used(obj, objdump):
    """{extension: first instruction needing it} for every instruction in obj's code sections."""
    out = subprocess.run([objdump, "-d", "-M", "intel", "--insn-width=16", obj], check=True,
                         capture_output=True, text=True).stdout
    used = {}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) < 3 or not re.match(r"\s*[0-9a-f]+:$", parts[0]):
            continue
        raw = [int(b, 16) for b in parts[1].split()]
        while raw and raw[0] in SKIPPABLE_PREFIXES:
            raw = raw[1:]
        evex = bool(raw) and raw[0] == 0x62
        words = parts[2].split()
        while words and words[0] in MNEMONIC_PREFIXES:
            words = words[1:]
        if not words:
            continue
        mnemonic = words[0]
        found = ["avx512f"] if evex else []
        for name, rx in PATTERNS.items():
            if rx.match(mnemonic):
                found.append(VEX_TWINS[name] if name in VEX_TWINS and not evex else name)
        for name in found:
            used.setdefault(name, parts[2].strip())
    return used


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", required=True)
    ap.add_argument("--objdump", default="objdump")
    ap.add_argument("--stamp", help="file touched when every object passes")
    ap.add_argument("objects", nargs="+")
    args = ap.parse_args()
    rows = read_table(args.table)
    cache_path = args.stamp + ".cache.json" if args.stamp else None
    version = os.stat(__file__).st_mtime_ns  # a changed checker sees every object afresh
    cache = {}
    if cache_path and os.path.exists(cache_path):
        with open(cache_path) as f:
            saved = json.load(f)
        if saved.get("checker") == version:
            cache = saved["objects"]

    def used(obj):
        st = os.stat(obj)
        key = [st.st_size, st.st_mtime_ns]
        hit = cache.get(obj)
        if hit and hit[0] == key:
            return hit[1]
        return extensions_used(obj, args.objdump)

    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        results = dict(zip(args.objects, pool.map(used, args.objects)))
    failures = []
    for obj in args.objects:
        row = row_of(obj, rows)
        allowed = rows[row] if row else set()
        extra = {n: insn for n, insn in results[obj].items() if n not in allowed}
        if extra:
            where = f"row {row} ({' '.join(sorted(allowed))})" if row else "base x86-64-v3"
            lines = [f"  {n}: e.g. {insn}" for n, insn in sorted(extra.items())]
            failures.append(f"{obj}: instructions outside {where}:\n" + "\n".join(lines))
    if cache_path:
        with open(cache_path, "w") as f:
            json.dump({"checker": version,
                       "objects": {obj: [[os.stat(obj).st_size, os.stat(obj).st_mtime_ns], results[obj]]
                                   for obj in args.objects}}, f)
    if failures:
        print("check_kernel_isa: objects hold instructions their dispatch does not guarantee "
              "(src/cpu/kernel_isa.def):\n" + "\n".join(failures), file=sys.stderr)
        return 1
    if args.stamp:
        with open(args.stamp, "w") as f:
            f.write(f"{len(args.objects)} objects within their rows\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
