#!/usr/bin/env python3
"""Writes Tests/CortexCoreTests/Fixtures/ops.safetensors: inputs, outputs and gradients of
every op case that Tests/CortexCoreTests/OpParityTests.swift replays.

Run from a PyTorch venv outside the repo (../shared/tools/make-reference-venv.sh):
    $CORTEX_TORCH_PYTHON Tools/make_op_fixtures.py

For case NAME the file holds NAME.input0..N (contiguous base tensors; the op itself makes
transposed or sliced views of them), NAME.output, and for float outputs NAME.seed (a random
upstream gradient) and NAME.grad0..N, the gradients of sum(output * seed) for the float inputs.
Each case below is mirrored, with the same name, by a Swift closure in the test.
"""
import os
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

torch.manual_seed(1234)
tensors = {}
names = []


def randn(*shape):
    return torch.randn(shape, dtype=torch.float32)


def positive(*shape):
    return torch.rand(shape, dtype=torch.float32) + 0.5


def away_from(x, points, gap=0.05):
    """Moves values within `gap` of a kink (0, clamp bounds) so finite differences stay smooth."""
    x = x.clone()
    for p in points:
        near = (x - p).abs() < gap
        x[near] = x[near] + 3 * gap
    return x


def separated(a, b, gap=0.05):
    close = (a - b).abs() < gap
    b = b.clone()
    b[close] = b[close] + 3 * gap
    return b


def case(name, inputs, fn):
    names.append(name)
    leaves = []
    for i, t in enumerate(inputs):
        tensors[f"{name}.input{i}"] = t.contiguous().clone()
        leaf = t.clone()
        if leaf.dtype == torch.float32:
            leaf.requires_grad_(True)
        leaves.append(leaf)
    out = fn(*leaves)
    tensors[f"{name}.output"] = out.detach().contiguous()
    if out.dtype == torch.float32 and any(l.requires_grad for l in leaves):
        seed = randn(*out.shape)
        tensors[f"{name}.seed"] = seed
        (out * seed).sum().backward()
        for i, leaf in enumerate(leaves):
            if leaf.requires_grad:
                g = leaf.grad if leaf.grad is not None else torch.zeros_like(leaf)
                tensors[f"{name}.grad{i}"] = g.contiguous()


a, b = randn(3, 4), randn(3, 4)
p = positive(3, 4)
safe = away_from(randn(3, 4), [0.0])

# Element-wise, one input
case("neg", [a], lambda x: -x)
case("exp", [a], lambda x: x.exp())
case("log", [p], lambda x: x.log())
case("sqrt", [p], lambda x: x.sqrt())
case("rsqrt", [p], lambda x: x.rsqrt())
case("abs", [safe], lambda x: x.abs())
case("square", [a], lambda x: x.square())
case("reciprocal", [p], lambda x: x.reciprocal())
case("sin", [a], lambda x: x.sin())
case("cos", [a], lambda x: x.cos())
case("relu", [safe], lambda x: x.relu())
case("leaky_relu", [safe], lambda x: F.leaky_relu(x, 0.1))
case("gelu", [randn(3, 4) * 2], lambda x: F.gelu(x))
case("gelu_tanh", [randn(3, 4) * 2], lambda x: F.gelu(x, approximate="tanh"))
case("silu", [randn(3, 4) * 2], lambda x: F.silu(x))
case("sigmoid", [randn(3, 4) * 3], lambda x: x.sigmoid())
case("tanh", [randn(3, 4) * 2], lambda x: x.tanh())
case("tanh_small", [randn(3, 4) * 0.1], lambda x: x.tanh())
case("softplus", [randn(3, 4) * 3], lambda x: F.softplus(x))
case("softplus_beta", [randn(3, 4) * 3], lambda x: F.softplus(x, beta=2.0, threshold=4.0))
case("pow_scalar", [p], lambda x: x.pow(2.5))
case("pow_integer", [a], lambda x: x.pow(3))
case("clamp", [away_from(randn(3, 4), [-0.5, 0.5])], lambda x: x.clamp(-0.5, 0.5))
case("clamp_min", [away_from(randn(3, 4), [0.2])], lambda x: x.clamp(min=0.2))
case("exp_transposed", [randn(4, 3)], lambda x: x.t().exp())
case("tanh_sliced", [randn(3, 8)], lambda x: x[:, ::2].tanh())
case("gelu_large", [randn(64, 33) * 3], lambda x: F.gelu(x))
case("sigmoid_transposed_large", [randn(40, 50) * 4], lambda x: x.t().sigmoid())

# Element-wise, two inputs, broadcasting and views
case("add", [a, b], lambda x, y: x + y)
case("add_broadcast", [randn(2, 3, 4), randn(3, 1)], lambda x, y: x + y)
case("sub_broadcast", [a, randn(4)], lambda x, y: x - y)
case("mul", [a, b], lambda x, y: x * y)
case("mul_broadcast", [randn(2, 1, 4), randn(3, 1)], lambda x, y: x * y)
case("div", [a, p], lambda x, y: x / y)
case("div_broadcast", [randn(2, 3, 4), positive(1, 4)], lambda x, y: x / y)
case("pow_tensor", [p, b], lambda x, y: x.pow(y))
case("maximum", [a, separated(a, b)], lambda x, y: torch.maximum(x, y))
case("minimum_broadcast", [randn(3, 4), randn(4) + 0.01], lambda x, y: torch.minimum(x, y))
case("add_transposed", [randn(4, 3), b], lambda x, y: x.t() + y)
case("mul_sliced", [randn(3, 8), b], lambda x, y: x[:, 1::2] * y)
case("add_scalar", [a], lambda x: x + 2.5)
case("mul_scalar", [a], lambda x: x * -1.5)
case("rsub_scalar", [a], lambda x: 2 - x)
case("rdiv_scalar", [p], lambda x: 1.5 / x)
case("where", [randn(3, 4), a, randn(4)], lambda c, x, y: torch.where(c > 0, x, y))
case("add_large_broadcast", [randn(70, 65), randn(65)], lambda x, y: x + y)

# Comparisons (bool outputs)
b_equal = torch.where(torch.rand(3, 4) > 0.5, a, b)
case("eq", [a, b_equal], lambda x, y: x == y)
case("ne", [a, b_equal], lambda x, y: x != y)
case("lt", [a, randn(4)], lambda x, y: x < y)
case("le", [a, b_equal], lambda x, y: x <= y)
case("gt_scalar", [a], lambda x: x > 0.3)
case("ge", [a, b_equal], lambda x, y: x >= y)

# Reductions
x3 = randn(3, 4, 5)
# Distinct values at least 0.1 apart, so extremes have no near-ties within a finite-difference step.
distinct = torch.randperm(60).float().reshape(3, 4, 5) * 0.1 - 3
case("sum_all", [x3], lambda x: x.sum())
case("sum_axis_keepdim", [x3], lambda x: x.sum(1, keepdim=True))
case("sum_axes", [x3], lambda x: x.sum((0, 2)))
case("sum_transposed", [randn(4, 3)], lambda x: x.t().sum(0))
case("sum_large", [randn(3, 1000)], lambda x: x.sum(1))
case("sum_leading_large", [randn(100, 40)], lambda x: x.sum(0))
case("mean_all", [x3], lambda x: x.mean())
case("mean_last", [x3], lambda x: x.mean(-1))
case("max_all", [distinct], lambda x: x.max())
case("max_axis", [distinct], lambda x: x.max(1).values)
case("max_axis_indices", [distinct], lambda x: x.max(1).indices)
case("min_axis_keepdim", [distinct], lambda x: x.min(0, keepdim=True).values)
case("argmax_axis", [x3], lambda x: x.argmax(2))
case("argmin_all", [x3], lambda x: x.argmin())
case("amax_axes", [distinct], lambda x: x.amax((0, 2)))
case("var_axis", [x3], lambda x: x.var(1))
case("var_all_biased", [x3], lambda x: x.var(correction=0))
case("std_keepdim", [x3], lambda x: x.std(-1, keepdim=True))
case("logsumexp", [x3 * 3], lambda x: x.logsumexp(1))
case("softmax_last", [x3 * 2], lambda x: x.softmax(-1))
case("softmax_first", [x3 * 2], lambda x: x.softmax(0))
case("log_softmax_last", [x3 * 2], lambda x: x.log_softmax(-1))
case("log_softmax_transposed", [randn(5, 4) * 2], lambda x: x.t().log_softmax(1))
case("softmax_wide", [randn(4, 300) * 3], lambda x: x.softmax(-1))

# Views and shape ops
case("reshape", [x3], lambda x: x.reshape(4, -1))
case("reshape_transposed", [randn(4, 3)], lambda x: x.t().reshape(-1))
case("permute", [x3], lambda x: x.permute(2, 0, 1))
case("transpose", [x3], lambda x: x.transpose(0, 2))
case("squeeze_unsqueeze", [randn(3, 1, 4)], lambda x: x.squeeze(1).unsqueeze(0))
case("slice_step", [x3], lambda x: x[:, 1:4:2, :])
case("slice_negative", [x3], lambda x: x[..., -3:])
case("expand", [randn(3, 1)], lambda x: x.expand(3, 4) * 1.0)
case("contiguous", [randn(4, 3)], lambda x: x.t().contiguous())
case("flatten", [x3], lambda x: x.flatten(1))
case("cat", [randn(2, 3), randn(2, 1), randn(2, 2)], lambda x, y, z: torch.cat([x, y, z], 1))
case("stack", [a, b], lambda x, y: torch.stack([x, y], 0))
case("split", [x3], lambda x: torch.split(x, [1, 3], dim=1)[1])
case("chunk", [x3], lambda x: x.chunk(2, dim=2)[1])
case("gather", [x3, torch.randint(0, 4, (3, 2, 5))], lambda x, i: x.gather(1, i))
case("scatter_add", [randn(4, 5), torch.randint(0, 4, (3, 5)), randn(3, 5)], lambda x, i, s: x.scatter_add(0, i, s))
case("index_select", [x3, torch.tensor([3, 0, 3])], lambda x, i: x.index_select(1, i))
case("embedding", [randn(10, 4), torch.tensor([[1, 7, 1], [0, 9, 3]])], lambda w, i: F.embedding(i, w))
case("one_hot", [torch.tensor([0, 3, 1, 3])], lambda i: F.one_hot(i, 5))
case("tril", [randn(2, 4, 4)], lambda x: x.tril())
case("triu_diagonal", [randn(2, 4, 5)], lambda x: x.triu(1))
case("tril_negative", [randn(4, 4)], lambda x: x.tril(-1))
case("pad", [randn(2, 3, 4)], lambda x: F.pad(x, (1, 2, 0, 1)))
case("pad_value", [randn(2, 3)], lambda x: F.pad(x, (2, 0), value=1.5))

# Matrix products
case("matmul", [randn(3, 4), randn(4, 5)], lambda x, y: x @ y)
case("matmul_batched", [randn(2, 3, 4), randn(4, 5)], lambda x, y: x @ y)
case("matmul_broadcast", [randn(2, 1, 3, 4), randn(3, 4, 5)], lambda x, y: x @ y)
case("matmul_transposed", [randn(4, 3), randn(5, 4)], lambda x, y: x.t() @ y.t())
case("matmul_batched_transposed", [randn(2, 3, 4), randn(2, 5, 4)], lambda x, y: x @ y.transpose(1, 2))
case("matmul_sliced", [randn(3, 8), randn(4, 5)], lambda x, y: x[:, ::2] @ y)
case("matvec", [randn(3, 4), randn(4)], lambda x, y: x @ y)
case("vecmat", [randn(4), randn(4, 5)], lambda x, y: x @ y)
case("dot", [randn(4), randn(4)], lambda x, y: x @ y)

# Convolution helpers
case("unfold", [randn(2, 3, 5, 6)], lambda x: F.unfold(x, (2, 3), dilation=(1, 2), padding=1, stride=(2, 1)))
case("max_pool2d", [torch.randperm(2 * 3 * 7 * 6).float().reshape(2, 3, 7, 6) * 0.05],
     lambda x: F.max_pool2d(x, (3, 2), stride=(2, 1), padding=(1, 1)))
case("fold", [randn(2, 12, 10)], lambda c: F.fold(c, (4, 5), (2, 2), padding=(1, 0), stride=(1, 2)))

# Composite checks: a small MLP step and attention-like chain
case("mlp", [randn(4, 6), randn(6, 5), randn(5), randn(5, 3)],
     lambda x, w1, b1, w2: F.log_softmax(F.gelu(x @ w1 + b1) @ w2, -1))
case("attention", [randn(2, 4, 8), randn(2, 4, 8), randn(2, 4, 8)],
     lambda q, k, v: ((q @ k.transpose(1, 2)) * 0.35 + torch.triu(torch.full((4, 4), float("-inf")), 1)).softmax(-1) @ v)

# Creation
tensors["arange.output"] = torch.arange(0, 5, 0.5)
tensors["linspace.output"] = torch.linspace(-1, 1, 7)
tensors["eye.output"] = torch.eye(3, 4)

path = os.path.join(os.path.dirname(__file__), "..", "Tests", "CortexCoreTests", "Fixtures", "ops.safetensors")
save_file(tensors, path, metadata={"torch": torch.__version__, "cases": ",".join(names)})
print(f"wrote {len(names)} op cases ({len(tensors)} tensors) to {os.path.normpath(path)} with torch {torch.__version__}")
