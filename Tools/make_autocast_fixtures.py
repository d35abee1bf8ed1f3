#!/usr/bin/env python3
"""Writes Tests/CortexCoreTests/Fixtures/autocast.safetensors: float32 operands, the products
PyTorch computes for them under torch.autocast("cpu", dtype=torch.bfloat16) (bfloat16, stored
as float32), and the float32 leaves' gradients of sum(product * seed) taken under autocast.
Tests/CortexCoreTests/AutocastTests.swift replays each case with the same name.

Run from a PyTorch venv outside the repo (../shared/tools/make-reference-venv.sh):
    $CORTEX_TORCH_PYTHON Tools/make_autocast_fixtures.py
"""
import os
import torch
from safetensors.torch import save_file

torch.manual_seed(4321)
tensors = {}
names = []


def case(name, left, right, product):
    a, b = left.clone().requires_grad_(), right.clone().requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        output = product(a, b)
    assert output.dtype == torch.bfloat16, name
    seed = torch.randn(output.shape)
    (output.float() * seed).sum().backward()
    tensors.update({f"{name}.input0": left, f"{name}.input1": right, f"{name}.output": output.float(), f"{name}.seed": seed,
                    f"{name}.grad0": a.grad.float(), f"{name}.grad1": b.grad.float()})
    names.append(name)


# A Linear layer's x @ W^T over a batch of sequences, with an odd depth.
case("linear", torch.randn(2, 37, 45), torch.randn(29, 45), lambda x, w: x @ w.mT)
# Attention scores: per-head q @ k^T, and a square product deep enough for two k blocks.
case("attention_scores", torch.randn(2, 4, 33, 16), torch.randn(2, 4, 33, 16), lambda q, k: q @ k.transpose(-2, -1))
case("deep", torch.randn(24, 530), torch.randn(530, 20), lambda a, b: a @ b)

directory = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "CortexCoreTests", "Fixtures")
save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(directory, "autocast.safetensors"),
          metadata={"cases": ",".join(names), "torch": torch.__version__})
print(f"wrote {len(names)} cases with torch {torch.__version__}")
