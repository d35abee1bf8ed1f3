"""Round trip of pruned checkpoints between Cortex and PyTorch.

1. Loads DIR/model.safetensors written by `cortex prune <recipe> ... --out DIR` into the same
   architecture in PyTorch: each `<name>_orig`/`<name>_mask` pair is given to a parameter
   reparametrised by prune.identity, as one loads any pruned state dict; strict loading, so the
   keys must be exactly PyTorch's. Prints the masks' sparsity and the MNIST test accuracy,
   to compare with what `cortex prune` printed.
2. Prunes that model further in PyTorch (l1_unstructured, 50% more of every weight) and saves
   its state dict to OUT/model.safetensors with PyTorch's keys, printing its accuracy, for
   `cortex evaluate <recipe> --checkpoint OUT` to reproduce.

Run with the reference venv:
    $CORTEX_TORCH_PYTHON Tools/check_pruned_roundtrip.py mnist-cnn DIR OUT [--data-dir ../shared/data/mnist]
"""
import argparse
import gzip
import os

import numpy
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn.utils import prune


def model_for(recipe, state):
    if recipe in ("mnist-cnn", "fashion-cnn"):
        first, second = state["0.weight_orig" if "0.weight_orig" in state else "0.weight"].shape[0], None
        second = state["3.weight_orig" if "3.weight_orig" in state else "3.weight"].shape[0]
        return nn.Sequential(nn.Conv2d(1, first, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(first, second, 3, padding=1), nn.ReLU(),
                             nn.MaxPool2d(2), nn.Flatten(), nn.Linear(second * 49, 128), nn.ReLU(), nn.Dropout(0), nn.Linear(128, 10))
    widths = {"mnist-mlp": [784, 128, 10], "lenet-300-100": [784, 300, 100, 10]}.get(recipe) or [int(w) for w in recipe.split("-")]
    layers = [nn.Flatten()]
    for index, (a, b) in enumerate(zip(widths, widths[1:])):
        if index:
            layers.append(nn.ReLU())
        layers.append(nn.Linear(a, b))
    return nn.Sequential(*layers)


def mnist_test(directory):
    with gzip.open(os.path.join(directory, "t10k-images-idx3-ubyte.gz")) as handle:
        images = numpy.frombuffer(handle.read(), numpy.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(os.path.join(directory, "t10k-labels-idx1-ubyte.gz")) as handle:
        labels = numpy.frombuffer(handle.read(), numpy.uint8, offset=8)
    return torch.tensor(images, dtype=torch.float32) / 255, torch.tensor(labels, dtype=torch.int64)


def accuracy(model, images, labels):
    with torch.no_grad():
        return (model.eval()(images).argmax(1) == labels).float().mean().item()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("recipe")
    parser.add_argument("cortex_directory")
    parser.add_argument("out")
    parser.add_argument("--data-dir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "mnist"))
    arguments = parser.parse_args()
    state = load_file(os.path.join(arguments.cortex_directory, "model.safetensors"))
    model = model_for(arguments.recipe, state)
    for key in state:
        if key.endswith("_orig"):
            path, name = key[: -len("_orig")].rsplit(".", 1)
            prune.identity(model.get_submodule(path), name)
    model.load_state_dict(state, strict=True)
    images, labels = mnist_test(arguments.data_dir)
    for key in sorted(k for k in state if k.endswith("_mask")):
        mask = state[key]
        print(f"{key}: {100 * (1 - mask.mean().item()):.2f}% masked")
    print(f"torch: Cortex's pruned checkpoint loads strictly; MNIST test accuracy {accuracy(model, images, labels):.4f}")
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            prune.l1_unstructured(module, "weight", amount=0.5)
    os.makedirs(arguments.out, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, os.path.join(arguments.out, "model.safetensors"))
    print(f"torch: pruned 50% more of each weight; wrote {arguments.out}/model.safetensors "
          f"({len(model.state_dict())} tensors); MNIST test accuracy {accuracy(model, images, labels):.4f}")


if __name__ == "__main__":
    main()
