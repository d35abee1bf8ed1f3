#!/usr/bin/env python3
"""PyTorch's side of `cortex-bench distributed`: torch.distributed (gloo) and
DistributedDataParallel measured as Cortex's rows are, on 127.0.0.1 only.

- allreduce_busbw_<N>MB_shm: median all-reduce of N MB of float32 on 2 ranks (gloo has no
  shared-memory transport: it goes over TCP on loopback), busbw = algbw x 2(n-1)/n.
- <model>_1rank_1thread, _1rank_2threads, _2ranks_1thread (DDP), _2ranks_no_exchange:
  training samples/s, synthetic data, global batch 64 (mnist-cnn, Adam) or 32 windows of 128
  characters (a 4-layer, width-192 GPT, AdamW), each rank pinned to its own core.

Prints {"name": ..., "value": ...} lines. Called by Tools/reference_bench.py distributed.
"""
import json
import os
import socket
import subprocess
import sys
import time

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def launch(ranks, threads, arguments):
    """Runs this script as `ranks` worker processes and returns rank 0's figures."""
    port = free_port()
    processes = []
    for rank in range(ranks):
        environment = dict(os.environ, RANK=str(rank), WORLD_SIZE=str(ranks), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
                           GLOO_SOCKET_IFNAME="lo", CORTEX_REFERENCE_THREADS=str(threads))
        processes.append(subprocess.Popen([sys.executable, __file__, "worker"] + arguments, env=environment,
                                          stdout=subprocess.PIPE if rank == 0 else subprocess.DEVNULL))
    output = processes[0].communicate()[0].decode()
    for process in processes[1:]:
        process.wait()
    figures = {}
    for line in output.splitlines():
        try:
            row = json.loads(line)
            figures[row["name"]] = row["value"]
        except (ValueError, KeyError):
            pass
    return figures


class Block(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.ln_1, self.ln_2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.c_attn, self.c_proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.c_fc, self.mlp_proj = nn.Linear(width, 4 * width), nn.Linear(4 * width, width)

    def forward(self, x):
        batch, length, width = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(width, dim=2)
        q, k, v = (t.view(batch, length, self.heads, width // self.heads).transpose(1, 2) for t in (q, k, v))
        attended = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(batch, length, width)
        x = x + self.c_proj(attended)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(nn.Module):
    """The char-gpt shape: GPT-2 blocks, tied output projection."""

    def __init__(self, vocabulary=65, context=128, width=192, layers=4, heads=4):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocabulary, width), nn.Embedding(context, width)
        self.h = nn.ModuleList(Block(width, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(width)

    def forward(self, tokens, targets):
        x = self.wte(tokens) + self.wpe(torch.arange(tokens.shape[1]))
        for block in self.h:
            x = block(x)
        logits = self.ln_f(x) @ self.wte.weight.t()
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def worker(arguments):
    rank, size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    threads = int(os.environ["CORTEX_REFERENCE_THREADS"])
    cores = sorted(os.sched_getaffinity(0))
    if size > 1 or threads == 1:
        os.sched_setaffinity(0, {cores[rank % len(cores)]} if threads == 1 else set(cores))
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    kind = arguments[0]
    if size > 1:
        dist.init_process_group("gloo", rank=rank, world_size=size)

    def report(name, value):
        if rank == 0:
            print(json.dumps({"name": name, "value": value}), flush=True)

    def slowest(seconds):
        if size == 1:
            return seconds
        value = torch.tensor([seconds], dtype=torch.float64)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return value.item()

    if kind == "allreduce":
        for megabytes in [int(size) for size in arguments[1].split(",")]:
            tensor = torch.ones(megabytes * 1024 * 1024 // 4)
            dist.all_reduce(tensor)
            times = []
            for _ in range(5 if megabytes >= 64 else 15):
                dist.barrier()
                start = time.perf_counter()
                dist.all_reduce(tensor)
                times.append(slowest(time.perf_counter() - start))
            times.sort()
            report(f"busbw_{megabytes}", tensor.numel() * 4 / times[len(times) // 2] / 1e9 * 2 * (size - 1) / size)
    else:
        model_name, steps, exchange = arguments[1], int(arguments[2]), arguments[3] == "exchange"
        generator = torch.Generator().manual_seed(1 + rank)
        if model_name == "mnist-cnn":
            global_batch = 64
            local = global_batch // size
            model = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
                                  nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))
            images, labels = torch.rand(local, 1, 28, 28, generator=generator), (torch.arange(local) + rank) % 10
            wrapped = nn.parallel.DistributedDataParallel(model) if size > 1 and exchange else model
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            loss = lambda: F.cross_entropy(wrapped(images), labels)
        else:
            global_batch = 32
            local = global_batch // size
            model = GPT()
            tokens = torch.randint(0, 65, (local, 129), generator=generator)
            wrapped = nn.parallel.DistributedDataParallel(model) if size > 1 and exchange else model
            optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
            loss = lambda: wrapped(tokens[:, :-1], tokens[:, 1:])

        def step():
            optimizer.zero_grad()
            loss().backward()
            optimizer.step()

        for _ in range(2):
            step()
        if size > 1:
            dist.barrier()
        start = time.perf_counter()
        for _ in range(steps):
            step()
        report("samples_per_second", steps * global_batch / slowest(time.perf_counter() - start))
    if size > 1:
        dist.destroy_process_group()


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        worker(sys.argv[2:])
        return
    sizes = sys.argv[1] if len(sys.argv) > 1 else "1,4,16,64,256"
    for name, value in launch(2, 1, ["allreduce", sizes]).items():
        print(json.dumps({"name": f"allreduce_{name}MB_shm", "value": value}))
    for model, steps in [("mnist-cnn", 30), ("char-gpt", 8)]:
        key = model.replace("-", "_")
        layouts = [("1rank_1thread", 1, 1, "exchange"), ("1rank_2threads", 1, 2, "exchange"), ("2ranks_1thread", 2, 1, "exchange"),
                   ("2ranks_no_exchange", 2, 1, "alone")]
        for layout, ranks, threads, exchange in layouts:
            figures = launch(ranks, threads, ["train", model, str(steps), exchange])
            if "samples_per_second" in figures:
                print(json.dumps({"name": f"{key}_{layout}", "value": figures["samples_per_second"]}))


if __name__ == "__main__":
    main()
