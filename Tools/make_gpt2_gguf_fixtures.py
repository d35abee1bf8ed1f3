#!/usr/bin/env python3
"""Writes the GPT-2 GGUF fixtures of Tests/CortexModelsTests (gguf-py + transformers):

Fixtures/gpt2-gguf/gpt2-tiny-f32.gguf, gpt2-tiny-q8_0.gguf
    A random GPT2LMHeadModel (2 layers, width 64, 4 heads, vocabulary 300, context 64) in the
    layout llama.cpp's convert_hf_to_gguf.py writes for architecture "gpt2": Conv1D weights
    transposed to (out, in), tied output (no output.weight), norms, biases and position
    embeddings float32; the q8_0 file quantises the four projections and token_embd.weight.
Fixtures/gpt2-gguf/gpt2-tiny.reference.safetensors
    ids (2, 12) and transformers' float32 logits for them, from the weights as stored (logits_f32)
    and with the q8_0 tensors dequantised (logits_q8_0).

Usage: $CORTEX_TORCH_PYTHON Tools/make_gpt2_gguf_fixtures.py   (needs torch, transformers, gguf, safetensors)
"""
import os
import numpy as np
import torch
import gguf
from gguf import GGMLQuantizationType as T
from gguf.quants import quantize, dequantize
from safetensors.numpy import save_file
from transformers import GPT2Config, GPT2LMHeadModel

root = os.path.join(os.path.dirname(__file__), "..", "Tests", "CortexModelsTests", "Fixtures", "gpt2-gguf")
os.makedirs(root, exist_ok=True)
torch.manual_seed(0)
config = GPT2Config(vocab_size=300, n_positions=64, n_embd=64, n_layer=2, n_head=4, resid_pdrop=0, embd_pdrop=0, attn_pdrop=0)
model = GPT2LMHeadModel(config).eval()
state = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}

names = {"ln_1": "attn_norm", "attn.c_attn": "attn_qkv", "attn.c_proj": "attn_output", "ln_2": "ffn_norm",
         "mlp.c_fc": "ffn_up", "mlp.c_proj": "ffn_down"}
quantised = {"attn_qkv", "attn_output", "ffn_up", "ffn_down"}


def tensors():
    """(GGUF name, float32 array in GGUF's row order, quantisable) as the converter maps them."""
    yield "token_embd.weight", state["transformer.wte.weight"], True
    yield "position_embd.weight", state["transformer.wpe.weight"], False
    for layer in range(config.n_layer):
        for source, target in names.items():
            for part in ("weight", "bias"):
                value = state[f"transformer.h.{layer}.{source}.{part}"]
                if part == "weight" and target in quantised:
                    value = value.T.copy()  # Conv1D (in, out) -> (out, in)
                yield f"blk.{layer}.{target}.{part}", value, part == "weight" and target in quantised
    yield "output_norm.weight", state["transformer.ln_f.weight"], False
    yield "output_norm.bias", state["transformer.ln_f.bias"], False


def write(path, q8):
    writer = gguf.GGUFWriter(path, "gpt2")
    writer.add_block_count(config.n_layer)
    writer.add_context_length(config.n_positions)
    writer.add_embedding_length(config.n_embd)
    writer.add_feed_forward_length(4 * config.n_embd)
    writer.add_head_count(config.n_head)
    writer.add_layer_norm_eps(config.layer_norm_epsilon)
    stored = {}
    for name, value, quantisable in tensors():
        if q8 and quantisable:
            blocks = quantize(value, T.Q8_0)
            writer.add_tensor(name, blocks, raw_dtype=T.Q8_0)
            stored[name] = dequantize(blocks, T.Q8_0).reshape(value.shape)
        else:
            writer.add_tensor(name, value)
            stored[name] = value
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return stored


def logits_with(stored, ids):
    """transformers' logits with the weights replaced by the stored (dequantised) values."""
    copy = GPT2LMHeadModel(config).eval()
    new_state = {k: torch.tensor(v) for k, v in state.items()}
    new_state["transformer.wte.weight"] = torch.tensor(stored["token_embd.weight"])
    for layer in range(config.n_layer):
        for source, target in names.items():
            value = stored[f"blk.{layer}.{target}.weight"]
            new_state[f"transformer.h.{layer}.{source}.weight"] = torch.tensor(value.T.copy() if target in quantised else value)
    new_state["lm_head.weight"] = new_state["transformer.wte.weight"]
    copy.load_state_dict(new_state, strict=False)
    with torch.no_grad():
        return copy(torch.tensor(ids)).logits.numpy().astype(np.float32)


ids = np.random.default_rng(1).integers(0, config.vocab_size, size=(2, 12)).astype(np.int64)
f32 = write(os.path.join(root, "gpt2-tiny-f32.gguf"), q8=False)
q8 = write(os.path.join(root, "gpt2-tiny-q8_0.gguf"), q8=True)
save_file({"ids": ids, "logits_f32": logits_with(f32, ids), "logits_q8_0": logits_with(q8, ids)},
          os.path.join(root, "gpt2-tiny.reference.safetensors"))
print("wrote", root)
