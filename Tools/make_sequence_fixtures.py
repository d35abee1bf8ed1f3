#!/usr/bin/env python3
"""Writes Tests/CortexNNTests/Fixtures/sequence.safetensors: PyTorch's outputs and gradients for
the recurrent layers (RNN, LSTM, GRU) that Tests/CortexNNTests/RecurrentParityTests replays.

Run from a PyTorch venv outside the repo:  $CORTEX_TORCH_PYTHON Tools/make_sequence_fixtures.py

Case NAME: NAME.input, NAME.h0 (and NAME.c0), NAME.lengths (int64, when the batch has
sequences of different lengths: packed with pack_padded_sequence, unpadded outputs are 0),
NAME.param.<state_dict key>, NAME.output, NAME.h_n (and NAME.c_n), the seeds
NAME.seed.output / .h_n / .c_n, and the gradients NAME.grad.input / .h0 / .c0 / .<key> of
sum(output * seed.output) + sum(h_n * seed.h_n) (+ sum(c_n * seed.c_n)).
The metadata "cases" lists NAME:KIND:input_size:hidden:layers:bidirectional:batch_first.
"""
import os
import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from safetensors.torch import save_file

torch.manual_seed(2025)
tensors, cases = {}, []


def case(name, kind, input_size, hidden, layers=1, bidirectional=False, batch_first=False, nonlinearity="tanh",
         steps=6, batch=3, lengths=None, bias=True):
    if kind == "rnn":
        module = nn.RNN(input_size, hidden, layers, nonlinearity=nonlinearity, bias=bias, batch_first=batch_first,
                        bidirectional=bidirectional)
    else:
        module = {"lstm": nn.LSTM, "gru": nn.GRU}[kind](input_size, hidden, layers, bias=bias, batch_first=batch_first,
                                                        bidirectional=bidirectional)
    label = f"{kind}_{nonlinearity}" if kind == "rnn" else kind
    cases.append(f"{name}:{label}:{input_size}:{hidden}:{layers}:{int(bidirectional)}:{int(batch_first)}:{int(bias)}")
    for key, value in module.state_dict().items():
        tensors[f"{name}.param.{key}"] = value.detach().clone().contiguous()
    shape = (batch, steps, input_size) if batch_first else (steps, batch, input_size)
    x = torch.randn(shape, requires_grad=True)
    directions = 2 if bidirectional else 1
    h0 = torch.randn(layers * directions, batch, hidden, requires_grad=True)
    c0 = torch.randn(layers * directions, batch, hidden, requires_grad=True) if kind == "lstm" else None
    tensors[f"{name}.input"] = x.detach().clone()
    tensors[f"{name}.h0"] = h0.detach().clone()
    if c0 is not None:
        tensors[f"{name}.c0"] = c0.detach().clone()
    state = (h0, c0) if kind == "lstm" else h0
    if lengths is not None:
        tensors[f"{name}.lengths"] = torch.tensor(lengths, dtype=torch.int64)
        packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=False)
        packed_output, final = module(packed, state)
        output, _ = pad_packed_sequence(packed_output, batch_first=batch_first, total_length=steps)
    else:
        output, final = module(x, state)
    h_n, c_n = final if kind == "lstm" else (final, None)
    tensors[f"{name}.output"] = output.detach().clone()
    tensors[f"{name}.h_n"] = h_n.detach().clone()
    seeds = {"output": torch.randn(output.shape), "h_n": torch.randn(h_n.shape)}
    objective = (output * seeds["output"]).sum() + (h_n * seeds["h_n"]).sum()
    if c_n is not None:
        tensors[f"{name}.c_n"] = c_n.detach().clone()
        seeds["c_n"] = torch.randn(c_n.shape)
        objective = objective + (c_n * seeds["c_n"]).sum()
    for key, seed in seeds.items():
        tensors[f"{name}.seed.{key}"] = seed
    objective.backward()
    tensors[f"{name}.grad.input"] = x.grad.clone()
    tensors[f"{name}.grad.h0"] = h0.grad.clone()
    if c0 is not None:
        tensors[f"{name}.grad.c0"] = c0.grad.clone()
    for key, parameter in module.named_parameters():
        tensors[f"{name}.grad.{key}"] = parameter.grad.clone()


case("lstm", "lstm", 5, 4)
case("lstm_deep_bidirectional_batch_first", "lstm", 5, 4, layers=2, bidirectional=True, batch_first=True)
case("lstm_lengths", "lstm", 4, 3, layers=2, bidirectional=True, lengths=[6, 2, 4])
case("gru", "gru", 5, 4)
case("gru_bidirectional_lengths", "gru", 3, 5, bidirectional=True, batch_first=True, lengths=[3, 6, 1])
case("gru_deep_nobias", "gru", 4, 3, layers=3, bias=False)
case("rnn_tanh", "rnn", 5, 4)
case("rnn_relu_deep_bidirectional", "rnn", 4, 6, layers=2, bidirectional=True, nonlinearity="relu", lengths=[5, 6, 2])

# Attention and Transformer cases: NAME.input.<name> (float inputs, gradients wanted),
# NAME.mask.<name> (bool masks: attention masks True = blocked, as nn.MultiheadAttention),
# NAME.param.<key>, NAME.output.<k> with NAME.seed.<k>, NAME.grad.input.<name>, NAME.grad.<key>.
# Modules stay in training mode with dropout 0 (PyTorch's inference fast path is not taken).
attention_cases = []


def attention_case(name, module, inputs, masks, call):
    attention_cases.append(name)
    for key, value in module.state_dict().items():
        tensors[f"{name}.param.{key}"] = value.detach().clone()
    leaves = {}
    for key, value in inputs.items():
        leaves[key] = value.clone().requires_grad_(True)
        tensors[f"{name}.input.{key}"] = value.clone()
    for key, value in masks.items():
        tensors[f"{name}.mask.{key}"] = value.clone()
    outputs = call(module, leaves, masks)
    objective = 0
    for index, output in enumerate(outputs):
        seed = torch.randn(output.shape)
        tensors[f"{name}.output.{index}"] = output.detach().clone()
        tensors[f"{name}.seed.{index}"] = seed
        objective = objective + (output * seed).sum()
    objective.backward()
    for key, leaf in leaves.items():
        tensors[f"{name}.grad.input.{key}"] = leaf.grad.clone()
    for key, parameter in module.named_parameters():
        tensors[f"{name}.grad.{key}"] = parameter.grad.clone()


def causal(length):
    return torch.triu(torch.ones(length, length, dtype=torch.bool), diagonal=1)


x = torch.randn(5, 3, 8)
padding = torch.tensor([[False] * 5, [False, False, False, True, True], [False] * 4 + [True]])
attention_case("mha_self_padding", nn.MultiheadAttention(8, 2), {"x": x}, {"key_padding": padding},
               lambda m, i, k: m(i["x"], i["x"], i["x"], key_padding_mask=k["key_padding"]))
attention_case("mha_cross_batch_first_masked", nn.MultiheadAttention(8, 4, batch_first=True),
               {"query": torch.randn(2, 4, 8), "memory": torch.randn(2, 6, 8)},
               {"attention": torch.rand(4, 6) > 0.7},
               lambda m, i, k: m(i["query"], i["memory"], i["memory"], attn_mask=k["attention"], average_attn_weights=False))
attention_case("encoder_layer_post_relu", nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True),
               {"x": torch.randn(3, 5, 8)}, {"key_padding": padding},
               lambda m, i, k: (m(i["x"], src_key_padding_mask=k["key_padding"]),))
attention_case("encoder_layer_pre_gelu_causal",
               nn.TransformerEncoderLayer(8, 4, 12, dropout=0.0, activation="gelu", norm_first=True),
               {"x": torch.randn(6, 2, 8)}, {"attention": causal(6)},
               lambda m, i, k: (m(i["x"], src_mask=k["attention"]),))
attention_case("decoder_layer", nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0, batch_first=True),
               {"target": torch.randn(3, 4, 8), "memory": torch.randn(3, 5, 8)},
               {"attention": causal(4), "memory_padding": padding},
               lambda m, i, k: (m(i["target"], i["memory"], tgt_mask=k["attention"], memory_key_padding_mask=k["memory_padding"]),))
attention_case("transformer", nn.Transformer(8, 2, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=16, dropout=0.0,
                                             batch_first=True),
               {"source": torch.randn(2, 5, 8), "target": torch.randn(2, 4, 8)}, {"attention": causal(4)},
               lambda m, i, k: (m(i["source"], i["target"], tgt_mask=k["attention"]),))

output = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "Tests", "CortexNNTests", "Fixtures",
                      "sequence.safetensors")
save_file({key: value.contiguous() for key, value in tensors.items()}, output, metadata={"cases": ",".join(cases), "attention": ",".join(attention_cases),
                                                                                           "torch": torch.__version__})
print(f"wrote {output}: {len(cases)} cases, {len(tensors)} tensors")
