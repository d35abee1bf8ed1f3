"""Writes Tests/CortexExplainTests/Fixtures/captum.safetensors: Captum's attributions on three
small models, for Cortex's CortexExplain to match at rtol 1e-4.

- mlp.*: Linear(6, 8), ReLU, Linear(8, 3) on 4 inputs: Saliency (abs and signed),
  InputXGradient, IntegratedGradients with every integration method (20 steps, a non-zero
  baseline) and its convergence delta, Occlusion over windows of 2 with stride 1.
- cnn.*: Conv2d(1, 4, 3, padding 1), ReLU, MaxPool2d(2), Conv2d(4, 6, 3, padding 1), ReLU,
  Flatten, Linear(96, 3) on 2 images of 1x8x8 (Sequential names 0..6): LayerGradCam on the
  second convolution (layer "3") plain and with relu_attributions, on its ReLU (layer "4"),
  the interpolated maps (nearest and bilinear to 8x8), Occlusion with a 1x3x3 window and
  stride 1x2x2 (the last windows cut at the edge), IntegratedGradients (gausslegendre, 16 steps).
- embed.*: Embedding(20, 5), mean over tokens, Linear(5, 3) on 3 sequences of 6 ids:
  LayerIntegratedGradients through the embedding, baselines id 0, gausslegendre and
  riemann_right, 16 steps, with the delta.

Run with the reference venv: $CORTEX_TORCH_PYTHON Tools/make_explain_fixtures.py
"""
import pathlib

import torch
from captum.attr import (InputXGradient, IntegratedGradients, LayerAttribution, LayerGradCam,
                         LayerIntegratedGradients, Occlusion, Saliency)
from safetensors.torch import save_file
from torch import nn

torch.manual_seed(5)
tensors = {}


def put(name, value):
    tensors[name] = value.detach().float().contiguous() if value.is_floating_point() else value.detach().contiguous()


def weights(prefix, model):
    for key, value in model.state_dict().items():
        put(f"{prefix}.weights.{key}", value)


# The MLP.
mlp = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)).eval()
x = torch.randn(4, 6)
baseline = torch.randn(4, 6) * 0.1
target = torch.tensor([0, 2, 1, 2])
weights("mlp", mlp)
put("mlp.input", x)
put("mlp.baseline", baseline)
put("mlp.target", target)
put("mlp.saliency", Saliency(mlp).attribute(x, target=target))
put("mlp.saliency_signed", Saliency(mlp).attribute(x, target=target, abs=False))
put("mlp.input_x_gradient", InputXGradient(mlp).attribute(x, target=target))
for method in ["gausslegendre", "riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid"]:
    attributions, delta = IntegratedGradients(mlp).attribute(x, baselines=baseline, target=target, n_steps=20, method=method,
                                                             return_convergence_delta=True)
    put(f"mlp.ig.{method}", attributions)
    put(f"mlp.ig.{method}.delta", delta)
put("mlp.occlusion", Occlusion(mlp).attribute(x, sliding_window_shapes=(2,), strides=(1,), target=target))

# The CNN.
cnn = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(),
                    nn.Flatten(), nn.Linear(96, 3)).eval()
images = torch.randn(2, 1, 8, 8)
cnn_target = torch.tensor([1, 2])
weights("cnn", cnn)
put("cnn.input", images)
put("cnn.target", cnn_target)
cam = LayerGradCam(cnn, cnn[3]).attribute(images, target=cnn_target)
put("cnn.gradcam", cam)
put("cnn.gradcam_relu", LayerGradCam(cnn, cnn[3]).attribute(images, target=cnn_target, relu_attributions=True))
put("cnn.gradcam_layer4", LayerGradCam(cnn, cnn[4]).attribute(images, target=cnn_target))
put("cnn.gradcam_nearest", LayerAttribution.interpolate(cam, (8, 8)))
put("cnn.gradcam_bilinear", LayerAttribution.interpolate(cam, (8, 8), interpolate_mode="bilinear"))
put("cnn.occlusion", Occlusion(cnn).attribute(images, sliding_window_shapes=(1, 3, 3), strides=(1, 2, 2), target=cnn_target))
attributions, delta = IntegratedGradients(cnn).attribute(images, target=cnn_target, n_steps=16, return_convergence_delta=True)
put("cnn.ig", attributions)
put("cnn.ig.delta", delta)


# The embedding model.
class EmbeddingModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(20, 5)
        self.head = nn.Linear(5, 3)

    def forward(self, ids):
        return self.head(self.embedding(ids).mean(dim=1))


embed = EmbeddingModel().eval()
ids = torch.randint(1, 20, (3, 6))
embed_target = torch.tensor([2, 0, 1])
weights("embed", embed)
put("embed.input", ids)
put("embed.target", embed_target)
for method in ["gausslegendre", "riemann_right"]:
    attributions, delta = LayerIntegratedGradients(embed, embed.embedding).attribute(
        ids, baselines=torch.zeros_like(ids), target=embed_target, n_steps=16, method=method, return_convergence_delta=True)
    put(f"embed.lig.{method}", attributions)
    put(f"embed.lig.{method}.delta", delta)

out = pathlib.Path(__file__).resolve().parent.parent / "Tests/CortexExplainTests/Fixtures/captum.safetensors"
out.parent.mkdir(parents=True, exist_ok=True)
save_file(tensors, str(out), metadata={"generator": "Tools/make_explain_fixtures.py", "captum": __import__("captum").__version__})
print(f"wrote {len(tensors)} tensors to {out}")
