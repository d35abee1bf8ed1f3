"""Writes Tests/CortexDataTests/Fixtures/images/: small synthetic PNG and JPEG files in the
modes users' folders hold, and images.safetensors with the pixels Pillow decodes from them
(the reference for Cortex's libpng/libjpeg-turbo decoders), Pillow's convert("L") of an RGB
image and Pillow's bilinear resizes.

- PNG: 8-bit gray, 1-bit, 16-bit gray (the reference is its high byte, as libpng's
  strip_16; Pillow's own convert("L") clips 16-bit values instead), RGB, RGBA, palette, palette
  with transparency.
- JPEG: gray, RGB 4:2:0, RGB 4:4:4, progressive.
- Corrupt files: a truncated PNG, a truncated JPEG, text named .png.

Run with the reference venv (Pillow): $CORTEX_TORCH_PYTHON Tools/make_image_fixtures.py
"""
import json
import pathlib

import numpy as np
from PIL import Image
from safetensors.numpy import save_file

root = pathlib.Path(__file__).resolve().parent.parent / "Tests/CortexDataTests/Fixtures/images"
root.mkdir(parents=True, exist_ok=True)
generator = np.random.default_rng(7)


def smooth(height, width, channels):
    """A gradient with noise: JPEG-friendly and not constant."""
    y, x = np.mgrid[0:height, 0:width]
    base = (x * 255 / max(width - 1, 1) * 0.6 + y * 255 / max(height - 1, 1) * 0.4)
    planes = [np.clip(base * (0.5 + 0.25 * c) + generator.normal(0, 12, (height, width)), 0, 255) for c in range(channels)]
    return np.stack(planes, -1).astype(np.uint8).squeeze()


cases, tensors = {}, {}


def case(name, image, save, reference, channels):
    path = root / name
    image.save(path, **save)
    decoded = Image.open(path)
    decoded.load()
    pixels = reference(decoded)
    tensors[f"{name}.pixels"] = pixels.astype(np.float32).reshape(-1)
    cases[name] = {"width": decoded.width, "height": decoded.height, "channels": channels, "exact": name.endswith(".png")}


case("gray.png", Image.fromarray(smooth(13, 17, 1), "L"), {}, np.asarray, 1)
case("bilevel.png", Image.fromarray(smooth(9, 11, 1) > 128), {}, lambda i: np.asarray(i.convert("L")), 1)
case("gray16.png", Image.fromarray((smooth(7, 10, 1).astype(np.uint16) * 257 + generator.integers(0, 256, (7, 10))).astype(np.uint16)), {},
     lambda i: np.asarray(i, dtype=np.uint16) >> 8, 1)
case("rgb.png", Image.fromarray(smooth(12, 9, 3), "RGB"), {}, np.asarray, 3)
case("rgba.png", Image.fromarray(smooth(8, 8, 4), "RGBA"), {}, np.asarray, 4)
palette = Image.fromarray(smooth(10, 14, 3), "RGB").quantize(16)
case("palette.png", palette, {}, lambda i: np.asarray(i.convert("RGB")), 3)
case("palette-transparent.png", palette, {"transparency": 3}, lambda i: np.asarray(i.convert("RGBA")), 4)
case("gray.jpg", Image.fromarray(smooth(16, 24, 1), "L"), {"quality": 90}, np.asarray, 1)
case("rgb420.jpg", Image.fromarray(smooth(19, 23, 3), "RGB"), {"quality": 85, "subsampling": 2}, np.asarray, 3)
case("rgb444.jpg", Image.fromarray(smooth(16, 16, 3), "RGB"), {"quality": 95, "subsampling": 0}, np.asarray, 3)
case("progressive.jpg", Image.fromarray(smooth(21, 18, 3), "RGB"), {"quality": 80, "progressive": True}, np.asarray, 3)

# Pillow's convert("L") of an RGB image and its bilinear resizes (down and up).
rgb = Image.open(root / "rgb.png")
tensors["rgb.png.luma"] = np.asarray(rgb.convert("L")).astype(np.float32).reshape(-1)
gray = Image.open(root / "gray.png")
for height, width in [(5, 7), (26, 30)]:
    tensors[f"gray.png.resized.{height}x{width}"] = np.asarray(gray.resize((width, height), Image.BILINEAR)).astype(np.float32).reshape(-1)

data = (root / "gray.png").read_bytes()
(root / "truncated.png").write_bytes(data[: len(data) // 2])
data = (root / "rgb420.jpg").read_bytes()
(root / "truncated.jpg").write_bytes(data[: len(data) // 2])
(root / "not-an-image.png").write_bytes(b"this is a text file, not a PNG\n")

save_file(tensors, str(root.parent / "images.safetensors"), metadata={"cases": json.dumps(cases)})
print(f"wrote {len(cases)} images and their Pillow pixels to {root}")
