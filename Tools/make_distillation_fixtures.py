"""Writes Tests/CortexNNTests/Fixtures/distillation.safetensors: Hinton et al.'s distillation
loss, alpha * T^2 * F.kl_div(log_softmax(s / T), softmax(t / T), reduction="batchmean")
+ (1 - alpha) * F.cross_entropy(s, y), and its gradient with respect to the student's logits,
for classifier logits (N, C) and language-model logits (B, L, V).

Run with the reference venv: $CORTEX_TORCH_PYTHON Tools/make_distillation_fixtures.py
"""
import pathlib

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

generator = torch.Generator().manual_seed(5)
tensors = {}
for name, shape, temperature, alpha in [("classifier", (6, 10), 20.0, 0.9), ("tokens", (2, 5, 7), 2.5, 0.5), ("soft_only", (4, 3), 1.0, 1.0)]:
    student = (torch.randn(*shape, generator=generator) * 3).requires_grad_()
    teacher = torch.randn(*shape, generator=generator) * 3
    targets = torch.randint(0, shape[-1], shape[:-1], generator=generator)
    classes = shape[-1]
    s, t = student.reshape(-1, classes), teacher.reshape(-1, classes)
    loss = alpha * temperature ** 2 * F.kl_div(F.log_softmax(s / temperature, -1), F.softmax(t / temperature, -1), reduction="batchmean")
    loss = loss + (1 - alpha) * F.cross_entropy(s, targets.reshape(-1))
    loss.backward()
    tensors.update({f"{name}.student": student.detach(), f"{name}.teacher": teacher, f"{name}.targets": targets,
                    f"{name}.loss": loss.detach().reshape(1), f"{name}.gradient": student.grad,
                    f"{name}.settings": torch.tensor([temperature, alpha])})
path = pathlib.Path(__file__).resolve().parent.parent / "Tests/CortexNNTests/Fixtures/distillation.safetensors"
save_file(tensors, str(path))
print(f"wrote {len(tensors)} tensors to {path}")
