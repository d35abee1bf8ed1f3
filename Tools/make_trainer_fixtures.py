"""Writes Tests/CortexNNTests/Fixtures/trainer.safetensors: what the trainer's gradient
clipping and ReduceLROnPlateau must reproduce.

- clip.<case>: three gradients, torch.nn.utils.clip_grad_norm_ (max_norm, norm_type) or
  clip_grad_value_ applied to them; the clipped gradients and, for the norm, the total norm it
  returns.
- plateau.<case>: a sequence of validation metrics and the learning rate after
  ReduceLROnPlateau.step(metric) for each, in several settings (mode, factor, patience,
  threshold, cooldown, min_lr).

Run with the reference venv: $CORTEX_TORCH_PYTHON Tools/make_trainer_fixtures.py
"""
import json
import pathlib

import torch
from safetensors.torch import save_file

generator = torch.Generator().manual_seed(22)
tensors, metadata = {}, {}
shapes = [(4, 3), (7,), (2, 2, 5)]

clip_cases = {
    "norm2_clipped": ("norm", 1.0, 2.0),
    "norm2_unclipped": ("norm", 1000.0, 2.0),
    "norm1": ("norm", 2.5, 1.0),
    "norm_inf": ("norm", 0.4, float("inf")),
    "norm3": ("norm", 0.8, 3.0),
    "value": ("value", 0.3, 0.0),
}
for name, (kind, bound, norm_type) in clip_cases.items():
    parameters = [torch.zeros(shape, requires_grad=True) for shape in shapes]
    for index, parameter in enumerate(parameters):
        parameter.grad = torch.randn(parameter.shape, generator=generator) * (index + 1) * 0.7
        tensors[f"clip.{name}.gradient{index}"] = parameter.grad.clone()
    if kind == "norm":
        total = torch.nn.utils.clip_grad_norm_(parameters, max_norm=bound, norm_type=norm_type)
        tensors[f"clip.{name}.total_norm"] = total.reshape(1).float()
    else:
        torch.nn.utils.clip_grad_value_(parameters, clip_value=bound)
    for index, parameter in enumerate(parameters):
        tensors[f"clip.{name}.clipped{index}"] = parameter.grad.clone()
    tensors[f"clip.{name}.settings"] = torch.tensor([bound, norm_type if norm_type != float("inf") else -1.0])
metadata["clip_cases"] = ",".join(clip_cases)
metadata["clip_kinds"] = json.dumps({name: case[0] for name, case in clip_cases.items()})

losses = [1.0, 0.9, 0.95, 0.92, 0.91, 0.93, 0.94, 0.5, 0.6, 0.7, 0.8, 0.9, 0.49994, 0.4999, 0.3, 0.31, 0.32, 0.33, 0.34, 0.35,
          0.36, 0.2, 0.21, 0.22, 0.23, 0.24, 0.25, 0.26, 0.27, 0.28]
accuracies = [0.5, 0.6, 0.61, 0.605, 0.6, 0.7, 0.69, 0.68, 0.69, 0.7, 0.70008, 0.71, 0.71, 0.7, 0.69, 0.8, 0.79, 0.78, 0.77, 0.76]
plateau_cases = {
    "min_default": (losses, dict(mode="min")),
    "min_patience2_cooldown1": (losses, dict(mode="min", factor=0.5, patience=2, cooldown=1)),
    "min_threshold_minlr": (losses, dict(mode="min", factor=0.2, patience=1, threshold=0.05, min_lr=0.002)),
    "min_patience0": (losses, dict(mode="min", factor=0.5, patience=0)),
    "max_accuracy": (accuracies, dict(mode="max", factor=0.5, patience=1, cooldown=2)),
}
for name, (metrics, options) in plateau_cases.items():
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    schedule = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, **options)
    rates = []
    for metric in metrics:
        schedule.step(metric)
        rates.append(optimizer.param_groups[0]["lr"])
    tensors[f"plateau.{name}.metrics"] = torch.tensor(metrics, dtype=torch.float32)
    tensors[f"plateau.{name}.rates"] = torch.tensor(rates, dtype=torch.float32)
    metadata[f"plateau.{name}"] = json.dumps({"mode": options["mode"], "factor": options.get("factor", 0.1),
                                             "patience": options.get("patience", 10), "threshold": options.get("threshold", 1e-4),
                                             "cooldown": options.get("cooldown", 0), "min_lr": options.get("min_lr", 0.0)})
metadata["plateau_cases"] = ",".join(plateau_cases)

path = pathlib.Path(__file__).resolve().parent.parent / "Tests/CortexNNTests/Fixtures/trainer.safetensors"
save_file({key: value.contiguous() for key, value in tensors.items()}, str(path), metadata=metadata)
print(f"wrote {len(tensors)} tensors to {path}")
