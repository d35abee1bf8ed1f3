#!/usr/bin/env python3
"""Writes Tests/CortexNNTests/Fixtures/nn.safetensors: PyTorch's outputs and gradients for the
layers, losses and optimizers that Tests/CortexNNTests replay, plus a small PyTorch model's
state_dict and outputs for the loading test.

Run from a PyTorch venv outside the repo:  $CORTEX_TORCH_PYTHON Tools/make_nn_fixtures.py

Layer case NAME: NAME.input, NAME.param.<state_dict key> (weights), NAME.output, NAME.seed,
NAME.grad.input and NAME.grad.<key> (gradients of sum(output * seed)).
Loss case NAME: NAME.input, NAME.target (and NAME.weight / NAME.pos_weight), NAME.output,
NAME.grad.input (of the loss, or of sum(loss * seed) for reduction="none").
Optimizer case NAME: the parameters of a Linear(4, 3) after five steps on a fixed MSE problem.
"""
import os
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

torch.manual_seed(2024)
tensors = {}
layer_cases, loss_cases, optimizer_cases = [], [], []


def layer_case(name, module, x):
    layer_cases.append(name)
    for key, value in module.state_dict().items():
        tensors[f"{name}.param.{key}"] = value.detach().clone().contiguous()
    x = x.clone().requires_grad_(x.dtype == torch.float32)
    tensors[f"{name}.input"] = x.detach().clone()
    out = module(x)
    tensors[f"{name}.output"] = out.detach().clone()
    seed = torch.randn(out.shape)
    tensors[f"{name}.seed"] = seed
    (out * seed).sum().backward()
    if x.requires_grad:
        tensors[f"{name}.grad.input"] = x.grad.clone()
    for key, parameter in module.named_parameters():
        tensors[f"{name}.grad.{key}"] = parameter.grad.clone()
    for key, buffer in module.named_buffers():
        tensors[f"{name}.after.{key}"] = buffer.detach().clone()


layer_case("linear", nn.Linear(5, 3), torch.randn(4, 5))
layer_case("linear_nobias_3d", nn.Linear(5, 2, bias=False), torch.randn(2, 3, 5))
layer_case("conv2d", nn.Conv2d(3, 4, 3), torch.randn(2, 3, 6, 7))
layer_case("conv2d_options", nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2),
           torch.randn(2, 4, 7, 6))
layer_case("conv2d_nobias", nn.Conv2d(2, 3, 1, bias=False), torch.randn(1, 2, 4, 4))
layer_case("layer_norm", nn.LayerNorm(6), torch.randn(3, 4, 6) * 2 + 1)
norm = nn.LayerNorm([3, 4])
with torch.no_grad():
    norm.weight.copy_(torch.randn(3, 4))
    norm.bias.copy_(torch.randn(3, 4))
layer_case("layer_norm_2d", norm, torch.randn(2, 3, 4))
layer_case("embedding", nn.Embedding(7, 4), torch.tensor([[1, 6, 1], [0, 3, 2]]))
layer_case("batch_norm_1d", nn.BatchNorm1d(4), torch.randn(8, 4) * 3 + 1)
layer_case("batch_norm_1d_sequence", nn.BatchNorm1d(3, momentum=0.3), torch.randn(4, 3, 5))
layer_case("batch_norm_2d", nn.BatchNorm2d(3), torch.randn(4, 3, 5, 5) * 2 - 1)
batch_norm_cumulative = nn.BatchNorm2d(2, momentum=None, affine=False)
layer_case("batch_norm_2d_cumulative", batch_norm_cumulative, torch.randn(3, 2, 4, 4))
evaluated = nn.BatchNorm2d(3)
with torch.no_grad():
    evaluated.running_mean.copy_(torch.randn(3))
    evaluated.running_var.copy_(torch.rand(3) + 0.5)
    evaluated.weight.copy_(torch.randn(3))
    evaluated.bias.copy_(torch.randn(3))
evaluated.eval()
layer_case("batch_norm_2d_eval", evaluated, torch.randn(2, 3, 4, 4))
grouped = nn.GroupNorm(2, 6)
with torch.no_grad():
    grouped.weight.copy_(torch.randn(6))
    grouped.bias.copy_(torch.randn(6))
layer_case("group_norm", grouped, torch.randn(3, 6, 4, 5))
layer_case("conv1d", nn.Conv1d(4, 6, 3, stride=2, padding=1, dilation=2, groups=2), torch.randn(2, 4, 11))
layer_case("max_pool_2d", nn.MaxPool2d(2), torch.randn(2, 3, 6, 8))
layer_case("max_pool_2d_options", nn.MaxPool2d((3, 2), stride=(2, 1), padding=(1, 1)), torch.randn(2, 2, 7, 6))
layer_case("avg_pool_2d", nn.AvgPool2d(3, stride=2, padding=1), torch.randn(2, 3, 7, 8))
layer_case("adaptive_avg_pool_2d", nn.AdaptiveAvgPool2d((3, 2)), torch.randn(2, 3, 7, 5))
layer_case("adaptive_avg_pool_2d_divisible", nn.AdaptiveAvgPool2d(2), torch.randn(2, 3, 6, 4))
layer_case("sequential", nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3), nn.LogSoftmax(-1)), torch.randn(5, 6))


def loss_case(name, fn, x, target, extra=None):
    loss_cases.append(name)
    x = x.clone().requires_grad_(True)
    tensors[f"{name}.input"] = x.detach().clone()
    tensors[f"{name}.target"] = target.clone()
    for key, value in (extra or {}).items():
        tensors[f"{name}.{key}"] = value.clone()
    out = fn(x, target)
    tensors[f"{name}.output"] = out.detach().clone()
    if out.dim() == 0:
        out.backward()
    else:
        seed = torch.randn(out.shape)
        tensors[f"{name}.seed"] = seed
        (out * seed).sum().backward()
    tensors[f"{name}.grad.input"] = x.grad.clone()


x, y = torch.randn(4, 5), torch.randn(4, 5)
loss_case("mse", F.mse_loss, x, y)
loss_case("mse_sum", lambda a, b: F.mse_loss(a, b, reduction="sum"), x, y)
loss_case("l1", F.l1_loss, x, y)
loss_case("huber", lambda a, b: F.huber_loss(a, b, delta=0.7), x * 2, y)
loss_case("huber_none", lambda a, b: F.huber_loss(a, b, reduction="none"), x * 2, y)
logits, labels = torch.randn(6, 5), torch.tensor([0, 4, 2, 2, 1, 3])
weight = torch.rand(5) + 0.5
loss_case("cross_entropy", lambda a, b: F.cross_entropy(a, b), logits, labels)
loss_case("cross_entropy_weighted", lambda a, b: F.cross_entropy(a, b, weight=weight), logits, labels, {"weight": weight})
ignored = torch.tensor([0, -100, 2, 2, -100, 3])
loss_case("cross_entropy_ignore", lambda a, b: F.cross_entropy(a, b), logits, ignored)
loss_case("cross_entropy_smoothing", lambda a, b: F.cross_entropy(a, b, label_smoothing=0.2), logits, ignored)
loss_case("cross_entropy_smoothing_weighted",
          lambda a, b: F.cross_entropy(a, b, weight=weight, label_smoothing=0.1), logits, ignored, {"weight": weight})
loss_case("cross_entropy_none", lambda a, b: F.cross_entropy(a, b, reduction="none"), logits, labels)
probabilities = torch.softmax(torch.randn(6, 5), -1)
loss_case("cross_entropy_probabilities", lambda a, b: F.cross_entropy(a, b, label_smoothing=0.1), logits, probabilities)
loss_case("cross_entropy_spatial", lambda a, b: F.cross_entropy(a, b), torch.randn(2, 4, 3, 3), torch.randint(0, 4, (2, 3, 3)))
log_probabilities = torch.log_softmax(torch.randn(6, 5), -1)
loss_case("nll", lambda a, b: F.nll_loss(a, b, weight=weight), log_probabilities, labels, {"weight": weight})
p = torch.rand(4, 5) * 0.9 + 0.05
t = (torch.rand(4, 5) > 0.5).float()
loss_case("bce", F.binary_cross_entropy, p, t)
loss_case("bce_weighted", lambda a, b: F.binary_cross_entropy(a, b, weight=weight), p, t, {"weight": weight})
pos_weight = torch.rand(5) * 2 + 0.5
loss_case("bce_with_logits", F.binary_cross_entropy_with_logits, x * 3, t)
loss_case("bce_with_logits_pos_weight", lambda a, b: F.binary_cross_entropy_with_logits(a, b, pos_weight=pos_weight),
          x * 3, t, {"pos_weight": pos_weight})
target_distribution = torch.softmax(torch.randn(4, 5), -1)
target_distribution[0, 1] = 0
loss_case("kl_div", lambda a, b: F.kl_div(a, b, reduction="batchmean"), torch.log_softmax(x, -1), target_distribution)
loss_case("kl_div_mean", lambda a, b: F.kl_div(a, b, reduction="mean"), torch.log_softmax(x, -1), target_distribution)
loss_case("kl_div_log_target", lambda a, b: F.kl_div(a, b, reduction="sum", log_target=True),
          torch.log_softmax(x, -1), torch.log_softmax(y, -1))

# Optimizers: five steps of each on the same problem.
problem_x, problem_y = torch.randn(8, 4), torch.randn(8, 3)
initial = nn.Linear(4, 3)
tensors["optimizer.initial.weight"] = initial.weight.detach().clone()
tensors["optimizer.initial.bias"] = initial.bias.detach().clone()
tensors["optimizer.x"], tensors["optimizer.y"] = problem_x, problem_y


def optimizer_case(name, make):
    optimizer_cases.append(name)
    model = nn.Linear(4, 3)
    model.load_state_dict(initial.state_dict())
    optimizer = make(model.parameters())
    for _ in range(5):
        optimizer.zero_grad()
        F.mse_loss(model(problem_x), problem_y).backward()
        optimizer.step()
    tensors[f"optimizer.{name}.weight"] = model.weight.detach().clone()
    tensors[f"optimizer.{name}.bias"] = model.bias.detach().clone()


optimizer_case("sgd", lambda p: torch.optim.SGD(p, lr=0.1))
optimizer_case("sgd_momentum", lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01))
optimizer_case("sgd_nesterov", lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True))
optimizer_case("adam", lambda p: torch.optim.Adam(p, lr=0.01))
optimizer_case("adam_weight_decay_amsgrad", lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=0.1, amsgrad=True))
optimizer_case("adamw", lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1))
optimizer_case("rmsprop", lambda p: torch.optim.RMSprop(p, lr=0.01))
optimizer_case("rmsprop_centered_momentum", lambda p: torch.optim.RMSprop(p, lr=0.01, centered=True, momentum=0.5, weight_decay=0.01))
optimizer_case("adagrad", lambda p: torch.optim.Adagrad(p, lr=0.1, lr_decay=0.01, weight_decay=0.01, initial_accumulator_value=0.1))

# Learning-rate schedules: the learning rate after each of 12 steps, starting from 0.1.
schedule_cases = []


def schedule_case(name, make, metrics=None):
    schedule_cases.append(name)
    parameter = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([parameter], lr=0.1)
    scheduler = make(optimizer)
    rates = []
    for step in range(12):
        optimizer.step()
        if metrics is None:
            scheduler.step()
        else:
            scheduler.step(metrics[step])
        rates.append(optimizer.param_groups[0]["lr"])
    tensors[f"schedule.{name}"] = torch.tensor(rates, dtype=torch.float32)


schedule_case("step", lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5))
schedule_case("multi_step", lambda o: torch.optim.lr_scheduler.MultiStepLR(o, milestones=[2, 5, 9], gamma=0.3))
schedule_case("exponential", lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.8))
schedule_case("cosine", lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=0.01))
schedule_case("warmup_cosine", lambda o: torch.optim.lr_scheduler.SequentialLR(o, [
    torch.optim.lr_scheduler.LinearLR(o, start_factor=0.25, total_iters=4),
    torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=8, eta_min=0.001)], milestones=[4]))
schedule_case("plateau", lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(o, factor=0.5, patience=2, cooldown=1),
              metrics=[1.0, 0.9, 0.95, 0.92, 0.91, 0.93, 0.94, 0.5, 0.6, 0.7, 0.8, 0.9])

path = os.path.join(os.path.dirname(__file__), "..", "Tests", "CortexNNTests", "Fixtures", "nn.safetensors")
save_file({k: v.contiguous() for k, v in tensors.items()}, path, metadata={
    "torch": torch.__version__, "layers": ",".join(layer_cases), "losses": ",".join(loss_cases),
    "optimizers": ",".join(optimizer_cases), "schedules": ",".join(schedule_cases)})
print(f"wrote {len(layer_cases)} layer, {len(loss_cases)} loss and {len(optimizer_cases)} optimizer cases to {os.path.normpath(path)}")
