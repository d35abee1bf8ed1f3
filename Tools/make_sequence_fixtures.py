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

output = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "Tests", "CortexNNTests", "Fixtures",
                      "sequence.safetensors")
save_file({key: value.contiguous() for key, value in tensors.items()}, output, metadata={"cases": ",".join(cases), "torch": torch.__version__})
print(f"wrote {output}: {len(cases)} cases, {len(tensors)} tensors")
