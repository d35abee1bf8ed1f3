#!/usr/bin/env python3
"""Writes Tests/CortexCoreTests/Fixtures/quantizers.json: float32 rows and the blocks ggml's
reference quantisers make of them, for GGUFWriterTests to compare Cortex's quantisers with,
byte for byte.

  Q8_0, Q4_0, Q4_1, F16, BF16: gguf-py's numpy quantisers (the `gguf` package on PyPI, in the
                               reference venv: ../shared/tools/make-reference-venv.sh).
  Q4_K, Q6_K:                  ggml's own C quantisers (quantize_row_q4_K_ref, q6_K_ref), called through
                               ggml_quantize_chunk in libggml-base.so of a llama.cpp build
                               (Tools/build-llama-cpp.sh; CORTEX_LLAMA_CPP=.../build/bin).

Usage: CORTEX_LLAMA_CPP=... $CORTEX_TORCH_PYTHON Tools/make_quantizer_fixtures.py
"""
import ctypes
import json
import os
import sys

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import quants

ROWS, COLUMNS = 6, 512
rng = np.random.default_rng(1234)
rows = rng.standard_normal((ROWS, COLUMNS)).astype(np.float32)
rows[1] *= 0.02                                  # weight-sized values
rows[2, :64] = 0.0                               # an all-zero block and sub-blocks
rows[2, 64:96] = 0.75                            # a constant block
rows[3] = rng.uniform(0, 1, COLUMNS)             # all positive (q4_K's minimum clamps to 0)
rows[4, 7] = 40.0                                # an outlier
rows[5] = np.round(rows[5] * 8) / 8              # exactly representable steps (ties)
rows = rows.astype(np.float32)

expected = {}
for name, kind in [("Q8_0", T.Q8_0), ("Q4_0", T.Q4_0), ("Q4_1", T.Q4_1), ("F16", T.F16), ("BF16", T.BF16)]:
    blocks = quants.quantize(rows, kind)
    expected[name] = blocks.tobytes().hex()

llama = os.environ.get("CORTEX_LLAMA_CPP")
if not llama:
    sys.exit("CORTEX_LLAMA_CPP is not set (Tools/build-llama-cpp.sh prints it); Q4_K needs ggml's C quantiser")
library = None
for candidate in [os.path.join(llama, "libggml-base.so"), os.path.join(llama, "..", "ggml", "src", "libggml-base.so")]:
    if os.path.exists(candidate):
        library = ctypes.CDLL(candidate)
        break
if library is None:
    sys.exit(f"no libggml-base.so beside {llama}")
library.ggml_quantize_chunk.restype = ctypes.c_size_t
library.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
output = np.zeros(ROWS * COLUMNS // 256 * 144, dtype=np.uint8)
written = library.ggml_quantize_chunk(12, rows.ctypes.data, output.ctypes.data, 0, ROWS, COLUMNS, None)
assert written == output.size, (written, output.size)
expected["Q4_K"] = output.tobytes().hex()
output = np.zeros(ROWS * COLUMNS // 256 * 210, dtype=np.uint8)
written = library.ggml_quantize_chunk(14, rows.ctypes.data, output.ctypes.data, 0, ROWS, COLUMNS, None)
assert written == output.size, (written, output.size)
expected["Q6_K"] = output.tobytes().hex()

target = os.path.join(os.path.dirname(__file__), "..", "Tests", "CortexCoreTests", "Fixtures", "quantizers.json")
with open(target, "w") as handle:
    json.dump({"rows": ROWS, "columns": COLUMNS, "input": [float(v) for v in rows.reshape(-1)], "expected": expected}, handle)
print("wrote", os.path.normpath(target))
