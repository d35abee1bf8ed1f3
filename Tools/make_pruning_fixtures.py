"""Writes Tests/CortexNNTests/Fixtures/pruning.safetensors: the masks torch.nn.utils.prune
chooses, for Cortex's Pruning to match entry for entry, ties included.

Each case stores `<case>.input` (the weights), `<case>.mask` (torch's mask) and, where
needed, a second input. Weights are drawn from a few values, so that most entries tie and the
choice among equal magnitudes (std::nth_element or std::partial_sort inside torch.topk)
decides the mask. Also `loaded.*`: a small MLP pruned by torch, its state dict as torch writes
it (weight_orig, weight_mask), an input and torch's output.

Run with the reference venv: $CORTEX_TORCH_PYTHON Tools/make_pruning_fixtures.py
"""
import pathlib

import torch
from safetensors.torch import save_file
from torch import nn
from torch.nn.utils import prune

generator = torch.Generator().manual_seed(11)
tensors = {}


def tied(*shape, levels=5):
    """Weights from a handful of values (both signs), so magnitudes tie often."""
    values = torch.randint(-levels, levels + 1, shape, generator=generator).float() / 4
    return values


def continuous(*shape):
    return torch.randn(*shape, generator=generator)


def linear_with(weight):
    layer = nn.Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        layer.weight.copy_(weight)
    return layer


def conv_with(weight):
    layer = nn.Conv2d(weight.shape[1], weight.shape[0], weight.shape[2])
    with torch.no_grad():
        layer.weight.copy_(weight)
    return layer


def record(name, weight, mask):
    tensors[name + ".input"] = weight.contiguous()
    tensors[name + ".mask"] = mask.contiguous()


# l1_unstructured: nth_element (k * 64 > n), partial_sort (k * 64 <= n), a count, a repeat.
for name, shape, amount in [("l1_nth", (17, 23), 0.3), ("l1_partial", (64, 80), 0.01), ("l1_count", (9, 13), 50),
                            ("l1_continuous", (31, 29), 0.77), ("l1_all", (5, 6), 1.0), ("l1_none", (5, 6), 0.0)]:
    weight = continuous(*shape) if name == "l1_continuous" else tied(*shape)
    layer = linear_with(weight)
    prune.l1_unstructured(layer, "weight", amount=amount)
    record(name, weight, layer.weight_mask)

weight = tied(40, 30)
layer = linear_with(weight)
prune.l1_unstructured(layer, "weight", amount=0.5)
prune.l1_unstructured(layer, "weight", amount=0.5)  # among the half left: 75% in all
record("l1_twice", weight, layer.weight_mask)

# global_unstructured over two Linears and a Conv2d.
first, second, third = tied(12, 20), tied(7, 12), tied(6, 3, 3, 3)
layers = [linear_with(first), linear_with(second), conv_with(third)]
prune.global_unstructured([(layer, "weight") for layer in layers], pruning_method=prune.L1Unstructured, amount=0.6)
for index, (weight, layer) in enumerate(zip([first, second, third], layers)):
    record(f"global.{index}", weight, layer.weight_mask)

# ln_structured: filters with equal norms (copies), along dims 0 and 1, for n = 1, 2, inf.
weight = tied(16, 4, 3, 3)
weight[5] = weight[2]
weight[9] = -weight[2]
weight[12] = weight[7]
for name, amount, n, dim in [("ln_l2_dim0", 0.5, 2, 0), ("ln_l1_dim1", 2, 1, 1), ("ln_inf_dim0", 0.3, float("inf"), 0)]:
    layer = conv_with(weight)
    prune.ln_structured(layer, "weight", amount=amount, n=n, dim=dim)
    tensors[name + ".input"] = weight.clone()
    tensors[name + ".mask"] = layer.weight_mask.contiguous()

# unstructured, then structured over what is left (the container's slices).
weight = tied(10, 8)
layer = linear_with(weight)
prune.l1_unstructured(layer, "weight", amount=0.4)
prune.ln_structured(layer, "weight", amount=0.5, n=2, dim=0)
record("l1_then_ln", weight, layer.weight_mask)

# A model pruned by torch, saved as torch writes it.
torch.manual_seed(3)
model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
prune.l1_unstructured(model[0], "weight", amount=0.4)
prune.ln_structured(model[2], "weight", amount=1, n=2, dim=0)
prune.l1_unstructured(model[2], "bias", amount=1)
for key, value in model.state_dict().items():
    tensors["loaded.state." + key] = value.contiguous()
x = torch.randn(4, 6, generator=generator)
tensors["loaded.input"] = x
tensors["loaded.output"] = model(x).detach()

path = pathlib.Path(__file__).resolve().parent.parent / "Tests/CortexNNTests/Fixtures/pruning.safetensors"
save_file(tensors, str(path))
print(f"wrote {len(tensors)} tensors to {path}")
