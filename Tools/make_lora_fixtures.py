#!/usr/bin/env python3
"""Writes the LoRA fixtures with Hugging Face PEFT, on the random checkpoints the Llama and
GPT-2 parity tests already use.

Tests/CortexModelsTests/Fixtures/lora-llama/ (+ lora-llama.reference.safetensors)
    A PEFT adapter (r=4, alpha=8, rsLoRA off) on q_proj, v_proj and down_proj of
    llama-2layer, with A and B drawn at random (B starts at zero in training, which would
    test nothing). Reference: ids, the adapted model's logits, the mean next-token
    cross-entropy, and that loss's gradient for every adapter tensor ("grad." + PEFT's key).

Tests/CortexModelsTests/Fixtures/lora-gpt2/ (+ lora-gpt2.reference.safetensors)
    The same for gpt2-4layer on c_attn and c_proj (attention's and the MLP's): GPT-2's
    Conv1D stores its weights (in, out), so PEFT sets fan_in_fan_out.

Both reference files also hold "merged_logits": the logits of merge_and_unload().

Usage: $CORTEX_TORCH_PYTHON Tools/make_lora_fixtures.py
"""
import json, os
import torch
from peft import LoraConfig, get_peft_model
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM

root = os.path.join(os.path.dirname(__file__), "..", "Tests", "CortexModelsTests", "Fixtures")


def fixture(base, name, targets, vocabulary, fan_in_fan_out):
    torch.manual_seed(1)
    model = AutoModelForCausalLM.from_pretrained(os.path.join(root, base), torch_dtype=torch.float32)
    config = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=targets, fan_in_fan_out=fan_in_fan_out,
                        task_type="CAUSAL_LM")
    model = get_peft_model(model, config)
    with torch.no_grad():
        for key, parameter in model.named_parameters():
            if "lora_" in key:
                parameter.normal_(0, 0.2)
    model.eval()
    ids = torch.randint(0, vocabulary, (2, 12))
    logits = model(ids).logits
    loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, vocabulary), ids[:, 1:].reshape(-1))
    loss.backward()
    reference = {"ids": ids, "logits": logits.detach().contiguous(), "loss": loss.detach().reshape(1)}
    for key, parameter in model.named_parameters():
        if parameter.grad is not None:
            # PEFT's file key: the adapter name dropped.
            reference["grad." + key.replace(".default.weight", ".weight")] = parameter.grad.contiguous()
    model.save_pretrained(os.path.join(root, name))
    # PEFT also writes a model card; the path of the base is made relative to the fixtures.
    os.remove(os.path.join(root, name, "README.md"))
    config_path = os.path.join(root, name, "adapter_config.json")
    with open(config_path) as file:
        saved = json.load(file)
    saved["base_model_name_or_path"] = base
    with open(config_path, "w") as file:
        json.dump(saved, file, indent=2, sort_keys=True)
    with torch.no_grad():
        merged = model.merge_and_unload()
        reference["merged_logits"] = merged(ids).logits.contiguous()
    save_file(reference, os.path.join(root, name + ".reference.safetensors"))
    print(name, "loss", float(loss), "tensors", len(reference))


fixture("llama-2layer", "lora-llama", ["q_proj", "v_proj", "down_proj"], 300, False)
fixture("gpt2-4layer", "lora-gpt2", ["c_attn", "c_proj"], 300, True)
