#!/usr/bin/env python3
"""Reads GGUF files Cortex wrote with gguf-py (the reference reader) and checks, tensor by
tensor, that gguf-py's dequantisation equals Cortex's: each QUANTISED file is paired with the
F32 file `cortex quantize --model QUANTISED --to f32` wrote from it (Cortex's dequantised
values, stored exactly).

Usage: $CORTEX_TORCH_PYTHON Tools/check_gguf_export.py QUANTISED.gguf CORTEX_F32.gguf [...]
"""
import sys

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize

if len(sys.argv) < 3 or len(sys.argv) % 2 == 0:
    sys.exit(__doc__)
failures = 0
for quantised, dense in zip(sys.argv[1::2], sys.argv[2::2]):
    source, reference = GGUFReader(quantised), GGUFReader(dense)
    expected = {t.name: t for t in reference.tensors}
    types, worst, count = set(), 0.0, 0
    for tensor in source.tensors:
        ours = np.asarray(expected[tensor.name].data, dtype=np.float32).reshape(-1)
        theirs = dequantize(tensor.data, tensor.tensor_type).astype(np.float32).reshape(-1)
        types.add(tensor.tensor_type.name)
        difference = float(np.max(np.abs(ours - theirs))) if ours.size else 0.0
        worst = max(worst, difference)
        count += 1
        if difference != 0.0:
            failures += 1
            print(f"  {tensor.name} ({tensor.tensor_type.name}): largest difference {difference}")
    keys = len(source.fields)
    print(f"{quantised}: gguf-py read {keys} metadata fields and {count} tensors ({', '.join(sorted(types))}); "
          f"largest difference from Cortex's dequantisation {worst}")
sys.exit(1 if failures else 0)
