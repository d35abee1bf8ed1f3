#!/usr/bin/env python3
"""transformers loads a GGUF file that `cortex merge` wrote, and its next-token log-probabilities
equal those of Cortex's base model with the adapter applied.

    cortex merge --model smollm2 --adapter DIR --out /tmp/merged.gguf
    cortex generate --model smollm2 --adapter DIR --prompt "ROMEO:" --max-new-tokens 12 --temperature 0 \
        --activations float --json --logprobs > /tmp/cortex-generate.json
    $CORTEX_TORCH_PYTHON Tools/check_lora_merge.py /tmp/merged.gguf /tmp/cortex-generate.json

It prints whether transformers' greedy tokens equal Cortex's and the largest log-probability
difference over the generated tokens (tolerance 1e-4).
"""
import json, os, sys
import torch
from transformers import AutoModelForCausalLM

merged, generated = sys.argv[1], sys.argv[2]
with open(generated) as file:
    cortex = json.loads(next(line for line in file if line.startswith("{")))
folder, name = os.path.split(os.path.abspath(merged))
model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32).eval()
ids = cortex["prompt_tokens"] + cortex["tokens"]
with torch.no_grad():
    logits = model(torch.tensor([ids])).logits[0]
logprobs = torch.log_softmax(logits, -1)
start = len(cortex["prompt_tokens"]) - 1
theirs = [logprobs[start + i, token].item() for i, token in enumerate(cortex["tokens"])]
greedy = [int(logits[start + i].argmax()) for i in range(len(cortex["tokens"]))]
difference = max(abs(a - b) for a, b in zip(theirs, cortex["logprobs"]))
print(f"greedy tokens equal: {greedy == cortex['tokens']}; largest log-probability difference: {difference:.3g}")
sys.exit(0 if greedy == cortex["tokens"] and difference <= 1e-4 else 1)
