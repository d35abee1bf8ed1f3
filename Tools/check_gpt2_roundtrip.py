#!/usr/bin/env python3
"""Checks that a checkpoint Cortex saves after fine-tuning loads in Hugging Face transformers
and gives Cortex's logits.

1. transformers writes a small randomly initialised GPT-2 (GPT-2's vocabulary, 4 layers x 128,
   128 positions); `cortex train gpt2-finetune` continues training it on tiny Shakespeare and
   saves it (model.safetensors, config.json, vocab.json, merges.txt).
2. `cortex generate --json --logprobs --temperature 0` continues a prompt with the saved
   checkpoint: the new token ids and each one's log-probability under Cortex's logits.
3. transformers loads the directory (no missing, unexpected or mis-shaped tensors), its
   tokenizer gives the same prompt ids, its greedy generation gives the same tokens, and its
   log-probabilities of those tokens match Cortex's to 1e-4.

Usage (from the repository root, after `swift build -c release`):
    $CORTEX_TORCH_PYTHON Tools/check_gpt2_roundtrip.py [--data ../shared/data]
"""
import argparse, json, os, subprocess, sys, tempfile

import torch
from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

parser = argparse.ArgumentParser()
parser.add_argument("--cortex", default=".build/release/cortex")
parser.add_argument("--data", default="../shared/data")
parser.add_argument("--prompt", default="ROMEO:\nWhat light")
parser.add_argument("--new-tokens", type=int, default=40)
arguments = parser.parse_args()

with tempfile.TemporaryDirectory() as scratch:
    fixture = os.path.join(scratch, "pretrained")
    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config(n_layer=4, n_head=4, n_embd=128, n_positions=128)).save_pretrained(fixture)
    output = os.path.join(scratch, "finetuned")
    subprocess.run([arguments.cortex, "train", "gpt2-finetune", "--model", fixture,
                    "--tokenizer", os.path.join(arguments.data, "gpt2-tokenizer"),
                    "--text", os.path.join(arguments.data, "tinyshakespeare/input.txt"),
                    "--iterations", "30", "--context", "64", "--batch-size", "8", "--lr", "1e-3",
                    "--freeze-blocks", "1", "--out", output, "--json"], check=True)
    result = json.loads(subprocess.run([arguments.cortex, "generate", "--model", output, "--prompt", arguments.prompt,
                                        "--temperature", "0", "--max-new-tokens", str(arguments.new_tokens),
                                        "--json", "--logprobs"], check=True, capture_output=True, text=True).stdout)

    model, info = GPT2LMHeadModel.from_pretrained(output, output_loading_info=True)
    problems = {key: value for key, value in info.items() if value}
    assert not problems, f"transformers reports {problems}"
    model.eval()
    original = GPT2LMHeadModel.from_pretrained(fixture)
    changed = max((a - b).abs().max().item() for a, b in zip(model.parameters(), original.parameters()))
    assert changed > 1e-4, "fine-tuning left the weights unchanged"

    tokenizer = GPT2TokenizerFast.from_pretrained(output)
    prompt_ids = tokenizer(arguments.prompt)["input_ids"]
    assert prompt_ids == result["prompt_tokens"], (prompt_ids, result["prompt_tokens"])
    with torch.no_grad():
        generated = model.generate(torch.tensor([prompt_ids]), max_new_tokens=arguments.new_tokens, do_sample=False,
                                   pad_token_id=50256, eos_token_id=None)[0, len(prompt_ids):].tolist()
        sequence = torch.tensor([prompt_ids + result["tokens"]])
        logprobs = torch.log_softmax(model(sequence).logits[0].double(), dim=-1)
    assert generated == result["tokens"], f"greedy tokens differ:\n{generated}\n{result['tokens']}"
    expected = [logprobs[len(prompt_ids) - 1 + step, token].item() for step, token in enumerate(result["tokens"])]
    difference = max(abs(a - b) for a, b in zip(expected, result["logprobs"]))
    print(f"largest weight change from fine-tuning {changed:.4g}; {len(generated)} greedy tokens identical; "
          f"largest log-probability difference {difference:.3g}")
    assert difference < 1e-4
    print("OK: transformers loads Cortex's fine-tuned checkpoint and agrees with Cortex")
