#!/usr/bin/env python3
"""Writes Tests/CortexTextTests/Fixtures/pretokenizers.json: how Hugging Face tokenizers splits
varied text with Llama 3's pre-tokenizer pattern, and with GPT-2's pattern after isolating
every digit (SmolLM's Digits(individual_digits) + ByteLevel). Cortex's hand-written scanners
must give the same pieces.

Usage: $CORTEX_TORCH_PYTHON Tools/make_pretokenizer_fixtures.py   (needs tokenizers)
"""
import json, os
from tokenizers import Regex, pre_tokenizers

LLAMA3 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
texts = [
    "Hello world", "I'M here, you'RE there; they'll go. DON'T", "Numbers: 1234567 and 3.14159, 1,000,000",
    "(parenthesised)words and [brackets]here", "tabs\tand\nnewlines\r\n\r\nend  ", "  leading   spaces\n\n  and trailing \t ",
    "Émile a mangé des crêpes à Noël.", "日本語のテキストです。", "Emoji 😀🎉 and symbols ©®™!!!\n\n", "def f(x):\n    return x ** 2  # square",
    "https://example.com/a?b=1&c=2", "Ⅻ ½ ٣٤٥ numbers", "a\n\n\n b \n c", "'s's 'd'D 'll", "x\u00a0y\u2003z", "", "   ", "\n", "123\n456",
]
llama3 = pre_tokenizers.Split(Regex(LLAMA3), behavior="isolated")
digits = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.Split(Regex(GPT2), behavior="isolated")])
cases = [{"text": t, "llama3": [p for p, _ in llama3.pre_tokenize_str(t)], "digits_gpt2": [p for p, _ in digits.pre_tokenize_str(t)]}
         for t in texts]
path = os.path.join(os.path.dirname(__file__), "..", "Tests", "CortexTextTests", "Fixtures", "pretokenizers.json")
with open(path, "w") as handle:
    json.dump(cases, handle, ensure_ascii=False, indent=1)
print("wrote", len(cases), "cases to", path)
