"""Reference GPT-2 token ids for Cortex's tokenizer tests.

Run from the repository root with the reference venv (../shared/tools/make-reference-venv.sh):

    /opt/cortex-reference/bin/python Tools/make_text_fixtures.py

Encodes with Hugging Face's GPT-2 tokenizers (the pure-Python GPT2Tokenizer, whose regex is
OpenAI's, and the Rust GPT2TokenizerFast; they must agree) from ../shared/data/gpt2-tokenizer,
and writes Tests/CortexTextTests/Fixtures/gpt2_tokenizer.json: for the whole of tiny
Shakespeare the token count, the first and last 64 ids and the SHA-256 of all ids as
little-endian int32; for a set of awkward texts (accents, CJK, emoji, odd whitespace,
contractions, special tokens) the ids themselves.
"""

import hashlib
import json
import os
import struct

from transformers import GPT2Tokenizer, GPT2TokenizerFast

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "..", "shared", "data")
OUTPUT = os.path.join(ROOT, "Tests", "CortexTextTests", "Fixtures", "gpt2_tokenizer.json")

SAMPLES = [
    "Hello world",
    "I love programming",
    "Café naïve façade — déjà vu, Ångström, Ærøskøbing, São Paulo, Zürich.",
    "日本語のテキストと中文文本，还有한국어 텍스트。",
    "Emoji: 😀🎉👍🏽 👨‍👩‍👧‍👦 🇫🇷 and ✨sparkles✨!",
    "Odd   whitespace:\ttabs\t\tand\r\nCRLF,\u00a0no-break\u00a0spaces,\u3000ideographic, trailing   ",
    "   leading spaces\n\n\nand blank lines\n \n",
    "Contractions: it's, they're, we've, I'm, you'll, he'd, DON'T, 'twas, O'Neill's",
    "Numbers 1234567890 3.14159 1,000,000 ٣٤٥ ⅷ ½",
    "Code: def f(x): return x**2 + 1  # comment\n    if a != b: print('ok')",
    "Special <|endoftext|> token in the middle<|endoftext|>and at the end",
    "",
    " ",
    "a",
    "\n",
]


def main():
    directory = os.path.join(DATA, "gpt2-tokenizer")
    slow = GPT2Tokenizer(os.path.join(directory, "vocab.json"), os.path.join(directory, "merges.txt"))
    fast = GPT2TokenizerFast(os.path.join(directory, "vocab.json"), os.path.join(directory, "merges.txt"))

    with open(os.path.join(DATA, "tinyshakespeare", "input.txt"), encoding="utf-8") as handle:
        shakespeare = handle.read()
    ids = fast.encode(shakespeare)
    assert ids == slow.encode(shakespeare), "slow and fast GPT-2 tokenizers disagree on tiny Shakespeare"
    digest = hashlib.sha256(struct.pack(f"<{len(ids)}i", *ids)).hexdigest()

    samples = []
    for text in SAMPLES:
        encoded = fast.encode(text)
        assert encoded == slow.encode(text), f"slow and fast disagree on {text!r}"
        assert fast.decode(encoded) == text
        samples.append({"text": text, "ids": encoded})

    os.makedirs(os.path.dirname(OUTPUT), exist_ok=True)
    with open(OUTPUT, "w", encoding="utf-8") as handle:
        json.dump({
            "tinyshakespeare": {"count": len(ids), "first": ids[:64], "last": ids[-64:], "sha256_int32_le": digest},
            "samples": samples,
        }, handle, ensure_ascii=False, indent=1)
    print(f"wrote {OUTPUT}: tiny Shakespeare {len(ids)} tokens, {len(samples)} samples")


if __name__ == "__main__":
    main()
