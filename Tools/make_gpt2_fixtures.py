"""Randomly initialised Hugging Face GPT-2 checkpoints and their reference outputs for Cortex's
GPT-2 parity tests (Tests/CortexModelsTests/Fixtures).

Run from the repository root with the reference venv:

    /opt/cortex-reference/bin/python Tools/make_gpt2_fixtures.py

For each configuration it writes a checkpoint directory (config.json + model.safetensors, as
`save_pretrained` writes them; one stored in float16) and `<name>.reference.safetensors` with:
ids (B, T) and their logits; greedy_prompt and greedy_tokens (50 new tokens, as `generate`);
targets, the loss and every parameter's gradient (Hugging Face names) after one forward and
backward; and losses, the loss before each of 10 AdamW steps (lr 1e-3, weight decay 0.01) on the
same batch, the way llm.c tests its GPT-2.
"""

import os

import torch
from safetensors.torch import save_file
from transformers import GPT2Config, GPT2LMHeadModel

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUTPUT = os.path.join(ROOT, "Tests", "CortexModelsTests", "Fixtures")

CONFIGURATIONS = {
    # name: (config, dtype the checkpoint is stored in)
    "gpt2-4layer": (dict(vocab_size=300, n_positions=64, n_embd=64, n_layer=4, n_head=4), torch.float32),
    "gpt2-2layer-f16": (dict(vocab_size=200, n_positions=32, n_embd=48, n_layer=2, n_head=3), torch.float16),
}


def main():
    os.makedirs(OUTPUT, exist_ok=True)
    for index, (name, (settings, dtype)) in enumerate(CONFIGURATIONS.items()):
        torch.manual_seed(100 + index)
        config = GPT2Config(**settings, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
        model = GPT2LMHeadModel(config)
        # Stored in `dtype`; the reference runs in float32 from the stored (rounded) weights.
        model = model.to(dtype)
        directory = os.path.join(OUTPUT, name)
        model.save_pretrained(directory, safe_serialization=True)
        os.remove(os.path.join(directory, "generation_config.json"))  # not read by Cortex
        model = GPT2LMHeadModel.from_pretrained(directory, torch_dtype=torch.float32)
        model.train()  # dropout is 0; training mode keeps the eager attention path

        reference = {}
        generator = torch.Generator().manual_seed(7)
        ids = torch.randint(0, config.vocab_size, (2, 12), generator=generator)
        targets = torch.randint(0, config.vocab_size, (2, 12), generator=generator)
        reference["ids"] = ids
        reference["targets"] = targets
        with torch.no_grad():
            reference["logits"] = model(ids).logits
            prompt = ids[:1, :5]
            generated = model.generate(prompt, max_new_tokens=min(50, config.n_positions - 5), do_sample=False,
                                       pad_token_id=0, eos_token_id=None)
            reference["greedy_prompt"] = prompt.clone()
            reference["greedy_tokens"] = generated[:, 5:]

        logits = model(ids).logits
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, config.vocab_size), targets.reshape(-1))
        loss.backward()
        reference["loss"] = loss.detach().reshape(1)
        for key, parameter in model.named_parameters():
            reference[f"grad.{key}"] = parameter.grad.detach().clone()
        model.zero_grad()

        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
        losses = []
        for _ in range(10):
            optimizer.zero_grad()
            logits = model(ids).logits
            step_loss = torch.nn.functional.cross_entropy(logits.reshape(-1, config.vocab_size), targets.reshape(-1))
            losses.append(step_loss.item())
            step_loss.backward()
            optimizer.step()
        reference["losses"] = torch.tensor(losses)
        save_file({key: value.detach().clone().contiguous() for key, value in reference.items()},
                  os.path.join(OUTPUT, f"{name}.reference.safetensors"), metadata={"torch": torch.__version__})
        print(f"wrote {directory} ({dtype}) and its reference: loss {loss.item():.4f}, losses {losses[0]:.4f} -> {losses[-1]:.4f}")


if __name__ == "__main__":
    main()
