#!/usr/bin/env python3
"""Writes Tests/CortexModelsTests/Fixtures/qwen2-random.gguf and qwen2-random.reference.safetensors:
a random-weight Qwen2 (transformers' Qwen2ForCausalLM: 2 layers, hidden 32, 4 query heads over
2 key-value heads, tied embeddings, GPT-2's tokenizer) converted by llama.cpp's own
convert_hf_to_gguf.py (Q8_0, the smallest file it writes), and what transformers computes from
that GGUF file (it dequantises the blocks through gguf-py): the logits of the prompt's last two
positions and 16 greedy tokens.

The converter imports sentencepiece: `$CORTEX_TORCH_PYTHON -m pip install sentencepiece` first.

Usage: CORTEX_LLAMA_CPP_SOURCE=~/.cache/cortex/llama.cpp/source CORTEX_DATA_DIR=../shared/data \
       $CORTEX_TORCH_PYTHON Tools/make_qwen2_fixture.py
"""
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import warnings

import torch
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, AutoTokenizer, GPT2TokenizerFast, Qwen2Config, Qwen2ForCausalLM

warnings.filterwarnings("ignore")
source = os.environ.get("CORTEX_LLAMA_CPP_SOURCE") or os.path.expanduser("~/.cache/cortex/llama.cpp/source")
data = os.environ.get("CORTEX_DATA_DIR") or str(pathlib.Path(__file__).resolve().parent.parent.parent / "shared" / "data")
fixtures = pathlib.Path(__file__).resolve().parent.parent / "Tests" / "CortexModelsTests" / "Fixtures"
torch.manual_seed(5)
tokenizer = GPT2TokenizerFast(os.path.join(data, "gpt2-tokenizer", "vocab.json"), os.path.join(data, "gpt2-tokenizer", "merges.txt"))
config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                     num_key_value_heads=2, max_position_embeddings=128, tie_word_embeddings=True, rope_theta=10000.0,
                     rms_norm_eps=1e-6, bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id)
model = Qwen2ForCausalLM(config).eval()
with torch.no_grad():
    for name, parameter in model.named_parameters():
        if name.endswith("bias"):
            parameter.normal_(0, 0.5)  # Qwen2's q/k/v biases, large enough to matter
scratch = tempfile.mkdtemp()
model.save_pretrained(scratch)
tokenizer.save_pretrained(scratch)
output = fixtures / "qwen2-random.gguf"
# convert_hf_to_gguf.py recognises a BPE vocabulary by hashing the ids that transformers'
# AutoTokenizer gives a test string; for a qwen2 config AutoTokenizer picks Qwen2Tokenizer,
# whose hash of GPT-2's vocabulary it does not list. The converter runs unchanged, told the
# pre-tokenizer is "gpt-2" (what the vocabulary is); everything else (weights, biases,
# hyperparameters, tokens, merges) is its own work.
wrapper = f"""
import runpy, sys
sys.path.insert(0, {source!r})
from conversion import base
base.TextModel.get_vocab_base_pre = lambda self, tokenizer: "gpt-2"
sys.argv = ["convert_hf_to_gguf.py", {scratch!r}, "--outtype", "q8_0", "--outfile", {str(output)!r}]
runpy.run_path({os.path.join(source, "convert_hf_to_gguf.py")!r}, run_name="__main__")
"""
subprocess.run([sys.executable, "-c", wrapper], check=True, env={**os.environ, "PYTHONPATH": os.path.join(source, "gguf-py")},
               stdout=subprocess.DEVNULL)
shutil.rmtree(scratch)
loaded = AutoModelForCausalLM.from_pretrained(str(fixtures), gguf_file=output.name, dtype=torch.float32).eval()
prompt = tokenizer("First Citizen: before we proceed any further", add_special_tokens=False)["input_ids"]
with torch.no_grad():
    logits = loaded(torch.tensor([prompt])).logits[0, -2:]
    greedy = loaded.generate(torch.tensor([prompt]), max_new_tokens=16, min_new_tokens=16, do_sample=False, pad_token_id=0)[0, len(prompt):]
save_file({"prompt": torch.tensor(prompt), "logits": logits.contiguous(), "greedy": greedy.contiguous()},
          str(fixtures / "qwen2-random.reference.safetensors"))
print(f"wrote {output} ({output.stat().st_size} bytes)")
