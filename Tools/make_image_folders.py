"""Writes Fashion-MNIST images as PNG and JPEG files in class folders, for `cortex train
--config` on an image folder. Never commit the output.

    DIR/train/<class>/<index>.png|.jpg   the first --train images of the training set
    DIR/test/<class>/<index>.png|.jpg    the first --test images of the test set (2,000 by default)

Even indices are written as PNG, odd ones as JPEG (quality 95), so both decoders are used.
Class folders are named after Fashion-MNIST's classes (0-tshirt, 1-trouser, ...), so sorted
folder order is the label order. Needs Pillow and numpy (the reference venv has both):

    $CORTEX_TORCH_PYTHON Tools/make_image_folders.py [--source /usr/share/datasets/fashion-mnist]
        [--out ~/.cache/cortex/fashion-folders] [--train 10000] [--test 2000]
"""
import argparse
import gzip
import pathlib

import numpy as np
from PIL import Image

CLASSES = ["0-tshirt", "1-trouser", "2-pullover", "3-dress", "4-coat", "5-sandal", "6-shirt", "7-sneaker", "8-bag", "9-boot"]


def read_idx(path):
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        data = handle.read()
    dimensions = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dimensions)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dimensions).reshape(shape)


def find(source, name):
    for candidate in (source / name, source / (name + ".gz")):
        if candidate.exists():
            return candidate
    raise SystemExit(f"{name}(.gz) not found in {source}")


parser = argparse.ArgumentParser()
parser.add_argument("--source", default="/usr/share/datasets/fashion-mnist")
parser.add_argument("--out", default=str(pathlib.Path.home() / ".cache/cortex/fashion-folders"))
parser.add_argument("--train", type=int, default=10000)
parser.add_argument("--test", type=int, default=2000)
arguments = parser.parse_args()
source, out = pathlib.Path(arguments.source), pathlib.Path(arguments.out)
for split, prefix, count in [("train", "train", arguments.train), ("test", "t10k", arguments.test)]:
    images = read_idx(find(source, f"{prefix}-images-idx3-ubyte"))[:count]
    labels = read_idx(find(source, f"{prefix}-labels-idx1-ubyte"))[:count]
    for name in CLASSES:
        (out / split / name).mkdir(parents=True, exist_ok=True)
    for index, (pixels, label) in enumerate(zip(images, labels)):
        image = Image.fromarray(pixels, "L")
        stem = out / split / CLASSES[label] / f"{index:05d}"
        if index % 2 == 0:
            image.save(stem.with_suffix(".png"))
        else:
            image.save(stem.with_suffix(".jpg"), quality=95)
    print(f"{split}: {len(images)} images in {out / split}")
