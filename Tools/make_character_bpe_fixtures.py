#!/usr/bin/env python3
"""Writes Tests/CortexTextTests/Fixtures/character-bpe.json: SentencePiece-style BPE tokenizers in
Hugging Face's tokenizer.json form (a BPE model over characters with byte_fallback and <0xNN>
byte tokens, spaces as "▁"), trained here on tiny Shakespeare with 700 tokens, in the three
ways tokenizer.json files declare the space handling:

- "llama2": the normalizer Prepend("▁") + Replace(" ", "▁"), no pre-tokenizer (Llama 2,
  Mistral and TinyLlama's files);
- "metaspace-first": the Metaspace pre-tokenizer, prepend_scheme "first", split false;
- "metaspace-split": Metaspace, prepend_scheme "always", split true;

and the ids Hugging Face's tokenizers gives each on varied texts. Cortex's CharacterBPETokenizer
must load each tokenizer.json and give the same ids.

Usage: CORTEX_DATA_DIR=../shared/data $CORTEX_TORCH_PYTHON Tools/make_character_bpe_fixtures.py   (needs tokenizers)
"""
import json, os
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers, decoders

data = os.environ.get("CORTEX_DATA_DIR") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")
corpus = open(os.path.join(data, "tinyshakespeare", "input.txt"), encoding="utf-8").read()

trainer_tokenizer = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
trainer_tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
trainer = trainers.BpeTrainer(vocab_size=700, special_tokens=["<unk>", "<s>", "</s>"], show_progress=False,
                              initial_alphabet=list("▁\n"))
trainer_tokenizer.train_from_iterator([corpus[:300_000]], trainer=trainer)
trained = json.loads(trainer_tokenizer.to_str())

# Byte tokens after the three specials, as Llama's vocabulary has them; the rest shift up.
vocab = trained["model"]["vocab"]
ordered = sorted(vocab.items(), key=lambda item: item[1])
new_vocab = {}
for token, _ in ordered[:3]:
    new_vocab[token] = len(new_vocab)
for byte in range(256):
    new_vocab[f"<0x{byte:02X}>"] = len(new_vocab)
for token, _ in ordered[3:]:
    new_vocab[token] = len(new_vocab)
trained["model"]["vocab"] = new_vocab
trained["model"]["byte_fallback"] = True
trained["model"]["fuse_unk"] = True
trained["added_tokens"] = [{"id": new_vocab[t], "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                            "normalized": False, "special": True} for t in ["<unk>", "<s>", "</s>"]]

variants = {
    "llama2": ({"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"}, {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]}, None),
    "metaspace-first": (None, {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": False}),
    "metaspace-split": (None, {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": True}),
}
texts = [
    "First Citizen:\nBefore we proceed any further, hear me speak.", "Hello world", "  two leading spaces", "trailing  ",
    "naïve café, 日本語 and 😀 emoji", "<s>Begin and end</s> then more", "tabs\tand\nnew\n\nlines\r\n", "", " ", "ALL CAPS SHOUTING!!!",
    "unknown ʬ letters", "x</s>y<s>", "e\u0301 decomposed", corpus[1000:6000],
]
out = {"texts": texts, "tokenizers": {}, "ids": {}}
for name, (normalizer, pre_tokenizer) in variants.items():
    document = dict(trained)
    document["normalizer"] = normalizer
    document["pre_tokenizer"] = pre_tokenizer
    document["decoder"] = None
    tokenizer = Tokenizer.from_str(json.dumps(document))
    out["tokenizers"][name] = document
    out["ids"][name] = [tokenizer.encode(text, add_special_tokens=False).ids for text in texts]
path = os.path.join(os.path.dirname(__file__), "..", "Tests", "CortexTextTests", "Fixtures", "character-bpe.json")
with open(path, "w") as handle:
    json.dump(out, handle, ensure_ascii=False)
print("wrote", len(variants), "tokenizers,", len(texts), "texts to", path, os.path.getsize(path), "bytes")
