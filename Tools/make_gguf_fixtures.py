#!/usr/bin/env python3
"""Writes the GGUF reader's fixtures with gguf-py (llama.cpp's own Python package):

Tests/CortexCoreTests/Fixtures/gguf/blocks.gguf
    GGUF v3 with metadata of every value type (nested arrays included), alignment 64, and a
    (3, 512) tensor in each block format Cortex reads: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K,
    Q6_K. The quantisable formats hold gguf-py's quantisation of normal values; the K-quants
    hold random blocks with sane float16 scales.
Tests/CortexCoreTests/Fixtures/gguf/blocks.expected.safetensors
    gguf-py's dequantisation of each tensor, float32, under the same names.

Usage: $CORTEX_TORCH_PYTHON Tools/make_gguf_fixtures.py   (needs numpy, gguf, safetensors)
"""
import os
import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.quants import quantize, dequantize
from safetensors.numpy import save_file

root = os.path.join(os.path.dirname(__file__), "..", "Tests", "CortexCoreTests", "Fixtures", "gguf")
os.makedirs(root, exist_ok=True)
rng = np.random.default_rng(0)
rows, columns = 3, 512

writer = gguf.GGUFWriter(os.path.join(root, "blocks.gguf"), "llama")
writer.data_alignment = 64
writer.add_uint32("general.alignment", 64)
writer.add_uint8("test.u8", 200)
writer.add_int8("test.i8", -100)
writer.add_uint16("test.u16", 60000)
writer.add_int16("test.i16", -30000)
writer.add_uint32("test.u32", 4000000000)
writer.add_int32("test.i32", -2000000000)
writer.add_float32("test.f32", 0.25)
writer.add_bool("test.bool", True)
writer.add_string("test.string", "héllo wörld ✓")
writer.add_uint64("test.u64", 2**63 + 5)
writer.add_int64("test.i64", -(2**62))
writer.add_float64("test.f64", -1.5e300)
writer.add_array("test.array.i32", [1, -2, 3])
writer.add_array("test.array.strings", ["a", "", "ü"])
writer.add_array("test.array.f32", [0.5, -1.0])
writer.add_array("test.array.nested", [[1, 2], [3]])

expected = {}
def add(name, kind, data):
    if kind == T.F32:
        stored = data.astype(np.float32)
        writer.add_tensor(name, stored)
    elif kind == T.F16:
        stored = data.astype(np.float16)
        writer.add_tensor(name, stored)
    else:
        stored = data
        writer.add_tensor(name, stored, raw_dtype=kind)
    expected[name] = dequantize(stored, kind).reshape(rows, columns).astype(np.float32)

values = rng.standard_normal((rows, columns)).astype(np.float32)
add("f32", T.F32, values)
add("f16", T.F16, values)
for name, kind in [("bf16", T.BF16), ("q8_0", T.Q8_0), ("q4_0", T.Q4_0), ("q4_1", T.Q4_1)]:
    add(name, kind, quantize(values, kind))

def random_k_blocks(kind, scale_offsets):
    block_size, type_size = gguf.GGML_QUANT_SIZES[kind]
    blocks = rng.integers(0, 256, size=(rows * columns // block_size, type_size), dtype=np.uint8)
    for offset in scale_offsets:
        scales = (rng.random(blocks.shape[0]) * 0.05 + 0.001).astype(np.float16)
        blocks[:, offset:offset + 2] = scales.view(np.uint8).reshape(-1, 2)
    return blocks.reshape(rows, -1)

add("q4_k", T.Q4_K, random_k_blocks(T.Q4_K, [0, 2]))    # d, dmin lead the block
add("q6_k", T.Q6_K, random_k_blocks(T.Q6_K, [208]))     # d ends it

writer.write_header_to_file()
writer.write_kv_data_to_file()
writer.write_tensors_to_file()
writer.close()
save_file(expected, os.path.join(root, "blocks.expected.safetensors"))
print("wrote", root)
