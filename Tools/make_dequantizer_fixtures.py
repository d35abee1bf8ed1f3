#!/usr/bin/env python3
"""Writes Tests/CortexCoreTests/Fixtures/dequantizers.json: blocks of Q5_0, Q5_1, Q2_K, Q3_K and
Q5_K (random codes, scales set to sensible float16 values) and the float32 values gguf-py's
numpy dequantisers (the `gguf` package, ggml's own formulas) give for them, for Cortex's
dequantisers to equal exactly.

Usage: $CORTEX_TORCH_PYTHON Tools/make_dequantizer_fixtures.py
"""
import json
import pathlib

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGML_QUANT_SIZES, quants

rng = np.random.default_rng(2024)
ROWS = 3
# Where each format keeps its float16 scales (byte offsets within a block), so those take
# sensible values rather than random bits (NaNs, infinities).
HALF_OFFSETS = {"Q5_0": [0], "Q5_1": [0, 2], "Q2_K": [80, 82], "Q3_K": [108], "Q5_K": [0, 2]}
fixture = {}
for name, kind in [("Q5_0", T.Q5_0), ("Q5_1", T.Q5_1), ("Q2_K", T.Q2_K), ("Q3_K", T.Q3_K), ("Q5_K", T.Q5_K)]:
    block, size = GGML_QUANT_SIZES[kind]
    blocks_per_row = 512 // block
    raw = rng.integers(0, 256, size=(ROWS, blocks_per_row, size), dtype=np.uint8)
    for offset in HALF_OFFSETS[name]:
        halves = (rng.standard_normal((ROWS, blocks_per_row)) * 0.05).astype(np.float16)
        raw[:, :, offset:offset + 2] = halves.view(np.uint8).reshape(ROWS, blocks_per_row, 2)
    values = quants.dequantize(raw.reshape(ROWS, blocks_per_row * size), kind).astype(np.float32)
    fixture[name] = {"columns": blocks_per_row * block, "rows": ROWS, "blocks": raw.tobytes().hex(),
                     "values": values.flatten().tolist()}
path = pathlib.Path(__file__).resolve().parent.parent / "Tests/CortexCoreTests/Fixtures/dequantizers.json"
path.write_text(json.dumps(fixture) + "\n")
print("wrote", path)
