#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpus, fuzz/corpus/<target>/, from files in this repository: the
default model's config and tokenizer (cut to its first merges), the DeepSeek chat templates, and
hand-written safetensors files, indexes and request bodies. Run from anywhere; rewrites the folder."""
import json
import shutil
import struct
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "fuzz" / "corpus"


def put(target, name, data):
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def safetensors(tensors, metadata=None):
    """tensors: [(name, dtype, shape, bytes)] -> file bytes."""
    header, off, blob = {}, 0, b""
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(data)]}
        off += len(data)
        blob += data
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + blob


def small_tokenizer():
    """The default model's tokenizer.json with its first 64 merges and their tokens only."""
    tok = json.loads((ROOT / "models/default/tokenizer.json").read_text())
    vocab = tok["model"]["vocab"]
    merges = tok["model"]["merges"][:64]
    keep = {t for t, i in vocab.items() if i < 259}  # the byte alphabet
    for m in merges:
        a, b = m.split(" ") if isinstance(m, str) else m
        keep |= {a, b, a + b}
    ids = sorted(vocab[t] for t in keep)
    remap = {old: new for new, old in enumerate(ids)}
    tok["model"]["vocab"] = {t: remap[vocab[t]] for t in keep}
    tok["model"]["merges"] = merges
    n = len(ids)
    added = [a for a in tok["added_tokens"] if a["id"] < 3] + \
            [dict(a, id=n + k) for k, a in enumerate(a for a in tok["added_tokens"] if a["id"] >= 3)]
    tok["added_tokens"] = added
    return json.dumps(tok, ensure_ascii=False)


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    f32 = struct.pack("<6f", 1, 2, 3, 4, 5, 6)
    put("fuzz_safetensors", "two_tensors", safetensors([("a", "F32", [2, 3], f32), ("b", "BF16", [2], b"\x80\x3f\x00\x40")]))
    put("fuzz_safetensors", "metadata_fp8", safetensors(
        [("w", "F8_E4M3", [2, 2], b"\x38\x40\xb8\xc0"), ("w_scale_inv", "F32", [1, 1], struct.pack("<f", 0.5))],
        {"format": "pt"}))
    put("fuzz_safetensors", "empty_tensor", safetensors([("e", "I32", [0, 4], b"")]))

    put("fuzz_safetensors_index", "index", json.dumps(
        {"metadata": {"total_size": 32}, "weight_map": {"a": "model-00001-of-00001.safetensors",
                                                         "b": "model-00001-of-00001.safetensors"}}))
    put("fuzz_safetensors_index", "index_missing_tensor", json.dumps(
        {"weight_map": {"a": "model-00001-of-00001.safetensors", "c": "model-00001-of-00001.safetensors"}}))

    cfg = json.loads((ROOT / "models/default/config.json").read_text())
    put("fuzz_config", "default_model", json.dumps(cfg, indent=1))
    fp8 = dict(cfg, quantization_config={"quant_method": "fp8", "fmt": "e4m3", "activation_scheme": "dynamic",
                                         "weight_block_size": [128, 128]}, scoring_func="softmax",
               topk_method="greedy", rope_scaling=None)
    put("fuzz_config", "fp8_softmax", json.dumps(fp8))

    tok = small_tokenizer()
    put("fuzz_tokenizer", "small_bpe", tok + "\0" + "Hello, world! 123 <｜User｜>ok\n\tthe end 世界")
    put("fuzz_tokenizer", "ids", tok + "\0" + "\x05\x00\x00\x00\xff\xff\xff\xff\x40\x01\x00\x00")

    for t in sorted((ROOT / "tests/tokenizer/templates").glob("*.jinja")):
        put("fuzz_jinja", t.stem, t.read_bytes())
    put("fuzz_jinja", "features", "{% macro m(x) %}{{ x | upper }}{% endmacro %}{% set ns = namespace(n=0) %}"
        "{% for i in range(3) %}{% set ns.n = ns.n + i %}{{ m('a' ~ i) }}{% endfor %}{{ ns.n }}"
        "{{ messages[0]['content'][:4] | tojson }}{% if tools is defined %}{{ tools | length }}{% endif %}")

    put("fuzz_openai_request", "chat", json.dumps({
        "model": "m", "messages": [{"role": "system", "content": "Be brief."},
                                   {"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
        "max_tokens": 8, "temperature": 0.7, "top_p": 0.9, "stop": ["\n"], "seed": 3, "stream": True,
        "stream_options": {"include_usage": True}, "logprobs": True, "top_logprobs": 2}))
    put("fuzz_openai_request", "tools", json.dumps({
        "messages": [{"role": "user", "content": "Weather?"},
                     {"role": "assistant", "content": None, "tool_calls": [{"id": "c", "type": "function",
                      "function": {"name": "w", "arguments": "{}"}}]},
                     {"role": "tool", "tool_call_id": "c", "content": "sun"}],
        "tools": [{"type": "function", "function": {"name": "w", "parameters": {"type": "object"}}}],
        "tool_choice": "auto", "chat_template_kwargs": {"thinking": True}}))
    # Structured outputs: the schema is compiled while the request is parsed.
    put("fuzz_openai_request", "json_schema", json.dumps({
        "messages": [{"role": "user", "content": "A person?"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "p", "strict": True, "schema": {
            "type": "object", "required": ["name", "tags"], "additionalProperties": False,
            "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 20, "pattern": "^[A-Z][a-z]+$"},
                           "age": {"type": "integer", "minimum": 0, "maximum": 150},
                           "kind": {"enum": ["a", "b", None, 3]}, "ok": {"anyOf": [{"type": "boolean"},
                                                                              {"const": "x"}]},
                           "tags": {"type": "array", "items": {"$ref": "#/$defs/t"}, "minItems": 1,
                                    "maxItems": 3}},
            "$defs": {"t": {"type": "string", "format": "date"}}}}}}))
    put("fuzz_openai_request", "tool_choice", json.dumps({
        "messages": [{"role": "user", "content": "Weather?"}],
        "tools": [{"type": "function", "function": {"name": "w", "parameters": {
            "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}],
        "tool_choice": {"type": "function", "function": {"name": "w"}}, "response_format": {"type": "json_object"}}))
    put("fuzz_openai_request", "completion", json.dumps(
        {"prompt": "Once", "max_tokens": 4, "logit_bias": {"5": -100}, "temperature": 0}))
    put("fuzz_openai_request", "completion_ids", json.dumps({"prompt": [1, 2, 3], "n": 1, "echo": False}))


if __name__ == "__main__":
    main()
