#!/usr/bin/env python3
"""Writes Tests/CortexTextTests/Fixtures/unigram.json: Unigram tokenizers as Hugging Face's
tokenizers runs them, on varied text.

- "xlm-roberta": llama.cpp's suite vocabulary ggml-vocab-nomic-bert-moe.gguf (XLM-RoBERTa's
  250,048 pieces, scores and sentencepiece precompiled charsmap) in XLM-RoBERTa's tokenizer.json
  pipeline: Precompiled(charsmap) + Replace(" {2,}", " "), Metaspace (always, split), Unigram
  with <unk>. The GGUF file is fetched by Tools/fetch-pretrained.sh; only the ids are committed.
- "t5-style": the same vocabulary in T5's pipeline (WhitespaceSplit before Metaspace), which
  Cortex reads from a tokenizer.json.
- "trained": a 600-piece Unigram trained here on tiny Shakespeare with byte_fallback and
  <0xNN> byte tokens, its tokenizer.json committed whole.

Usage: CORTEX_DATA_DIR=../shared/data $CORTEX_TORCH_PYTHON Tools/make_unigram_fixtures.py   (needs tokenizers, gguf)
"""
import json, os
import gguf
from tokenizers import Tokenizer, AddedToken, Regex, models, normalizers, pre_tokenizers, trainers

data = os.environ.get("CORTEX_DATA_DIR") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")
pretrained = os.environ.get("CORTEX_PRETRAINED_DIR") or os.path.expanduser("~/.cache/cortex/pretrained")
corpus = open(os.path.join(data, "tinyshakespeare", "input.txt"), encoding="utf-8").read()
suite = os.path.join(pretrained, "llama-cpp-suite", "models")

texts = open(os.path.join(suite, "ggml-vocab-llama-spm.gguf.inp"), encoding="utf-8").read().split("\n__ggml_vocab_test__\n")[:-1]
texts += ["ＡＢＣ full width ½ ﬁne ligature", "e\u0301 decomposed é composed", "  many    spaces   here  ", "\ttab\tand\nnewline",
          "한국어 텍스트와 日本語", "<s>special</s> tokens <mask> and <unk>", "ʬʬ unknown letters ʬ", "Ⅻ roman ① circled", corpus[2000:5000]]

reader = gguf.GGUFReader(os.path.join(suite, "ggml-vocab-nomic-bert-moe.gguf"))
field = lambda key: reader.fields[key]
tokens = [bytes(field("tokenizer.ggml.tokens").parts[i]).decode() for i in field("tokenizer.ggml.tokens").data]
scores = [float(field("tokenizer.ggml.scores").parts[i][0]) for i in field("tokenizer.ggml.scores").data]
types = [int(field("tokenizer.ggml.token_type").parts[i][0]) for i in field("tokenizer.ggml.token_type").data]
charsmap = bytes(int(field("tokenizer.ggml.precompiled_charsmap").parts[i][0]) for i in field("tokenizer.ggml.precompiled_charsmap").data)
xlmr = Tokenizer(models.Unigram(list(zip(tokens, scores)), unk_id=3, byte_fallback=False))
xlmr.normalizer = normalizers.Sequence([normalizers.Precompiled(charsmap), normalizers.Replace(Regex(" {2,}"), " ")])
xlmr.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
xlmr.add_special_tokens([AddedToken(tokens[i], special=True, normalized=False) for i in range(len(tokens)) if types[i] in (2, 3)])

# T5's pipeline on the same vocabulary: WhitespaceSplit before Metaspace.
t5_style = Tokenizer(models.Unigram(list(zip(tokens, scores)), unk_id=3, byte_fallback=False))
t5_style.normalizer = normalizers.Sequence([normalizers.Precompiled(charsmap), normalizers.Replace(Regex(" {2,}"), " ")])
t5_style.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)])
t5_style.add_special_tokens([AddedToken(tokens[i], special=True, normalized=False) for i in range(len(tokens)) if types[i] in (2, 3)])

trainer_tokenizer = Tokenizer(models.Unigram())
trainer_tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
trainer = trainers.UnigramTrainer(vocab_size=600, special_tokens=["<unk>", "<s>", "</s>"], unk_token="<unk>", show_progress=False)
trainer_tokenizer.train_from_iterator([corpus[:300_000]], trainer=trainer)
document = json.loads(trainer_tokenizer.to_str())
vocab = document["model"]["vocab"]
document["model"]["vocab"] = vocab[:3] + [[f"<0x{byte:02X}>", 0.0] for byte in range(256)] + vocab[3:]
document["model"]["byte_fallback"] = True
document["added_tokens"] = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}
                            for i, t in enumerate(["<unk>", "<s>", "</s>"])]
trained = Tokenizer.from_str(json.dumps(document))

out = {"texts": texts,
       "xlm-roberta": [xlmr.encode(t, add_special_tokens=False).ids for t in texts],
       "t5-style": [t5_style.encode(t, add_special_tokens=False).ids for t in texts],
       "trained_tokenizer": document,
       "trained": [trained.encode(t, add_special_tokens=False).ids for t in texts]}
path = os.path.join(os.path.dirname(__file__), "..", "Tests", "CortexTextTests", "Fixtures", "unigram.json")
with open(path, "w") as handle:
    json.dump(out, handle, ensure_ascii=False)
print("wrote", len(texts), "texts to", path, os.path.getsize(path), "bytes")
