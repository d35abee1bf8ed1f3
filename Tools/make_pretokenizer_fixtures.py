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

# The patterns Cortex runs as regular expressions (ICU through Foundation): the tokenizer.json
# patterns behind llama.cpp's pre-tokenizer names, split by Hugging Face (Oniguruma), isolated.
PATTERNS = {
    "gpt2": GPT2,
    "llama3": LLAMA3,
    "qwen2": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    "qwen35": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    "gpt-4o": r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    "tekken": r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    "seed-coder": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+",
    "bailingmoe": r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+",
    "bloom": r" ?[^(\s|.,!?…。，、।۔،)]+",
    "falcon-punctuation": r"[\p{P}\$\+<=>\^~\|`]+",
    "digit-triples": r"[0-9][0-9][0-9]",
    "superbpe-thousands": r"(?=(\d{3})+(?!\d))",
}
# Pre-tokenizer names whose tokenizer.json is a sequence of Splits (each splitting the pieces of
# the one before): DeepSeek V3's, Tiny Aya's, SuperBPE's.
DEEPSEEK3 = [r"\p{N}{1,3}", r"[一-龥぀-ゟ゠-ヿ]+",
             r'''[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+''']
SEQUENCES = {
    "deepseek-v3": DEEPSEEK3,
    "tiny_aya": [r"\d{1,3}(?=(?:\d{3})*\b)", PATTERNS["gpt-4o"]],
    "superbpe": [r"\p{N}+", r"(?=(\d{3})+(?!\d))"],
}
pattern_texts = texts + ["DeepSeek的中文和日本語のテキスト, 12345 年", "e\u0301t\u00e9 na\u0308ive CAFÉ café", "vertical\x0btab and next\x85line", "IPhone iPHONE McDonald's HTTPServer",
                         "1234567 12 1,234,567.89", "a/b\n/c//\n", "x  \t\n\n  y"]
patterns = {name: [[p for p, _ in pre_tokenizers.Split(Regex(pattern), behavior="isolated").pre_tokenize_str(t)] for t in pattern_texts]
            for name, pattern in PATTERNS.items()}
path = os.path.join(os.path.dirname(__file__), "..", "Tests", "CortexTextTests", "Fixtures", "regex-pretokenizers.json")
sequences = {name: [[p for p, _ in pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(q), behavior="isolated") for q in parts]).pre_tokenize_str(t)]
                     for t in pattern_texts] for name, parts in SEQUENCES.items()}
with open(path, "w") as handle:
    json.dump({"texts": pattern_texts, "patterns": PATTERNS, "pieces": patterns, "sequences": SEQUENCES, "sequence_pieces": sequences},
              handle, ensure_ascii=False, indent=1)
print("wrote", len(PATTERNS), "patterns on", len(pattern_texts), "texts to", path)
