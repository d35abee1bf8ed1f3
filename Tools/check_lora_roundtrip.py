#!/usr/bin/env python3
"""PEFT loads an adapter Cortex trained and gives Cortex's logits.

    CORTEX_LORA_ROUNDTRIP_DIR=/tmp/lora-roundtrip swift test --filter freshAdapterStartsAsTheBaseAndRoundTrips
    $CORTEX_TORCH_PYTHON Tools/check_lora_roundtrip.py /tmp/lora-roundtrip

The test trains an adapter (r=8, alpha=16, q_proj and v_proj) on the random Llama fixture for
3 AdamW steps, saves it in PEFT's format to DIR/adapter and its logits to
DIR/cortex-logits.safetensors. This script loads the base with transformers, the adapter with
PeftModel.from_pretrained, and compares the logits (absolute tolerance 1e-4).
"""
import os, sys
import torch
from peft import PeftModel
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

directory = sys.argv[1]
base = os.path.join(os.path.dirname(__file__), "..", "Tests", "CortexModelsTests", "Fixtures", "llama-2layer")
model = AutoModelForCausalLM.from_pretrained(base, torch_dtype=torch.float32)
model = PeftModel.from_pretrained(model, os.path.join(directory, "adapter")).eval()
reference = load_file(os.path.join(directory, "cortex-logits.safetensors"))
with torch.no_grad():
    logits = model(reference["ids"]).logits
difference = (logits - reference["logits"]).abs().max().item()
print(f"PEFT loaded {sum(1 for n, _ in model.named_parameters() if 'lora_' in n)} adapter tensors; "
      f"largest logit difference from Cortex: {difference:.3g}")
sys.exit(0 if difference <= 1e-4 else 1)
