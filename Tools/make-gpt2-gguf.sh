#!/usr/bin/env bash
# Writes the GGUF files `cortex-bench gpt2` gives llama.cpp: a GPT-2 124M with random weights
# (transformers' GPT2LMHeadModel(GPT2Config()), seed 0) saved with the GPT-2 tokenizer, then
# converted by llama.cpp's convert_hf_to_gguf.py to f32, f16 and q8_0. Outside the repository,
# never committed (about 900 MB together).
#
#   bash Tools/make-gpt2-gguf.sh [DIRECTORY]   # default ~/.cache/cortex/gpt2-random
#   export CORTEX_GPT2_GGUF=DIRECTORY           # printed at the end
#
# Needs CORTEX_TORCH_PYTHON (../shared/tools/make-reference-venv.sh), the llama.cpp source
# (Tools/build-llama-cpp.sh; CORTEX_LLAMA_CPP_DIR if not the default) and the GPT-2 tokenizer
# files (CORTEX_DATA_DIR/gpt2-tokenizer).
set -euo pipefail

out="${1:-$HOME/.cache/cortex/gpt2-random}"
python="${CORTEX_TORCH_PYTHON:?set CORTEX_TORCH_PYTHON to the reference venv (../shared/tools/make-reference-venv.sh)}"
llama_source="${CORTEX_LLAMA_CPP_DIR:-$HOME/.cache/cortex/llama.cpp}/source"
tokenizer="${CORTEX_DATA_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/shared/data}/gpt2-tokenizer"
[ -f "$llama_source/convert_hf_to_gguf.py" ] || { echo "make-gpt2-gguf: no llama.cpp source in $llama_source (run Tools/build-llama-cpp.sh)" >&2; exit 1; }
[ -f "$tokenizer/vocab.json" ] || { echo "make-gpt2-gguf: no GPT-2 tokenizer in $tokenizer" >&2; exit 1; }

if [ ! -f "$out/gpt2-q8_0.gguf" ]; then
    mkdir -p "$out/hf"
    "$python" - "$out/hf" "$tokenizer" <<'PY'
import json, shutil, sys
import torch
from transformers import GPT2Config, GPT2LMHeadModel
directory, tokenizer = sys.argv[1], sys.argv[2]
torch.manual_seed(0)
GPT2LMHeadModel(GPT2Config()).save_pretrained(directory)
# convert_hf_to_gguf.py reads n_ctx, which transformers 5 no longer writes.
path = f"{directory}/config.json"
config = json.load(open(path))
config["n_ctx"] = config.get("n_positions", 1024)
json.dump(config, open(path, "w"), indent=2)
for name in ("vocab.json", "merges.txt"):
    shutil.copy(f"{tokenizer}/{name}", f"{directory}/{name}")
json.dump({"model_max_length": 1024, "tokenizer_class": "GPT2Tokenizer"}, open(f"{directory}/tokenizer_config.json", "w"))
PY
    for type in f32 f16 q8_0; do
        PYTHONPATH="$llama_source/gguf-py" "$python" "$llama_source/convert_hf_to_gguf.py" "$out/hf" --outtype "$type" \
            --outfile "$out/gpt2-$type.gguf.partial" >/dev/null
        mv "$out/gpt2-$type.gguf.partial" "$out/gpt2-$type.gguf"
    done
fi
echo "export CORTEX_GPT2_GGUF=$out"
