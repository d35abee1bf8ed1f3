"""Writes Tests/CortexCoreTests/Fixtures/int8_linear.json: PyTorch's int8 quantisation of a
Linear layer, for Cortex's Int8Matrix to match.

- weights: per_channel_symmetric qint8 codes and scales (PerChannelMinMaxObserver);
- choose_qparams: quint8 scale and zero point for value ranges (torch._choose_qparams_per_tensor
  without reduce_range), edge cases included;
- outputs of torch.ops.quantized.linear_dynamic (fbgemm, reduce_range off) on the input quantised
  per tensor (Cortex's calibrated mode), and row by row (Cortex's dynamic mode, which chooses
  each row's parameters).

Run with the reference venv: $CORTEX_TORCH_PYTHON Tools/make_int8_fixtures.py
"""
import json
import pathlib
import warnings

import torch
from torch.ao.quantization import PerChannelMinMaxObserver

warnings.filterwarnings("ignore")
torch.backends.quantized.engine = "x86"
generator = torch.Generator().manual_seed(7)
rows, columns, count = 19, 37, 6
weight = torch.randn(rows, columns, generator=generator) * 0.5
weight[3] = 0  # an all-zero channel: the scale floor
bias = torch.randn(rows, generator=generator)
x = torch.randn(count, columns, generator=generator) * 2
x[2] = x[2].abs()  # a row with no negative values: zero point 0
x[4, :] = 0.0      # an all-zero row

observer = PerChannelMinMaxObserver(ch_axis=0, dtype=torch.qint8, qscheme=torch.per_channel_symmetric)
observer(weight)
scales, zeros = observer.calculate_qparams()
qweight = torch.quantize_per_channel(weight, scales.double(), zeros, 0, torch.qint8)
packed = torch.ops.quantized.linear_prepack(qweight, bias)


def linear(inputs):
    return torch.ops.quantized.linear_dynamic(inputs, packed, False)


def qparams(low, high):
    scale, zero = torch._choose_qparams_per_tensor(torch.tensor([low, high]), False)
    return [float(scale), int(zero)]


ranges = [[-1.0, 1.0], [0.0, 3.5], [-2.0, 0.0], [0.0, 0.0], [-0.3, 7.1], [-1e-12, 1e-12], [-5.5, 0.25], [1.0, 2.0]]
tensor_scale, tensor_zero = torch._choose_qparams_per_tensor(x, False)
fixture = {
    "rows": rows, "columns": columns, "count": count,
    "weight": weight.flatten().tolist(), "bias": bias.tolist(), "input": x.flatten().tolist(),
    "codes": qweight.int_repr().flatten().tolist(), "scales": qweight.q_per_channel_scales().tolist(),
    "choose_qparams": [{"range": r, "parameters": qparams(*r)} for r in ranges],
    "tensor_parameters": [float(tensor_scale), int(tensor_zero)],
    "per_tensor_output": linear(x).flatten().tolist(),
    "per_row_output": torch.cat([linear(x[i:i + 1]) for i in range(count)]).flatten().tolist(),
}
path = pathlib.Path(__file__).resolve().parent.parent / "Tests/CortexCoreTests/Fixtures/int8_linear.json"
path.write_text(json.dumps(fixture) + "\n")
print(f"wrote {path} (torch {torch.__version__})")
