"""Recurrent layers with PyTorch's parameters, layouts and equations: RNN, LSTM
and GRU (stacked, bidirectional, batch_first, dropout between layers), and
their single-step cells.

A layer projects the whole input sequence in one product (x @ W_ih.T + b_ih for
every time step), then steps through time with one product per step (h @ W_hh.T)
and the gate arithmetic, which fuses into it. Gates are stacked as PyTorch stacks
them: LSTM's (input, forget, cell, output), GRU's (reset, update, new).
"""
from __future__ import annotations

from typing import Optional

from .. import creation, functional as tensor_ops
from ..tensor import Tensor
from . import functional as F
from .modules import Module, uniform_parameter

# rows of the stacked gate weights per hidden unit
_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _rnn_step(activation):
    def step(x_part: Tensor, h: Tensor, w_hh: Tensor, b_hh: Optional[Tensor], c=None):
        return activation(x_part + F.linear(h, w_hh, b_hh)), None
    return step


def _lstm_step(x_part: Tensor, h: Tensor, w_hh: Tensor, b_hh: Optional[Tensor], c: Tensor):
    i, f, g, o = (x_part + F.linear(h, w_hh, b_hh)).chunk(4, -1)
    c = f.sigmoid() * c + i.sigmoid() * g.tanh()
    return o.sigmoid() * c.tanh(), c


def _gru_step(x_part: Tensor, h: Tensor, w_hh: Tensor, b_hh: Optional[Tensor], c=None):
    x_r, x_z, x_n = x_part.chunk(3, -1)
    h_r, h_z, h_n = F.linear(h, w_hh, b_hh).chunk(3, -1)
    r, z = (x_r + h_r).sigmoid(), (x_z + h_z).sigmoid()
    n = (x_n + r * h_n).tanh()
    return n + z * (h - n), None  # (1 - z) * n + z * h


_STEPS = {"RNN_TANH": _rnn_step(lambda t: t.tanh()), "RNN_RELU": _rnn_step(lambda t: t.relu()),
          "LSTM": _lstm_step, "GRU": _gru_step}


class RNNBase(Module):
    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 device=None, dtype=None):
        super().__init__()
        if proj_size:
            raise NotImplementedError("LSTM with proj_size is not supported by lazyfuse")
        if not isinstance(hidden_size, int) or hidden_size <= 0 or num_layers <= 0:
            raise ValueError(f"hidden_size and num_layers must be positive integers, got {hidden_size} and {num_layers}")
        F.check_dropout_probability(dropout)
        self.mode, self.input_size, self.hidden_size, self.num_layers = mode, input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout, self.bidirectional = bias, batch_first, float(dropout), bidirectional
        directions = 2 if bidirectional else 1
        gate_size = _GATES[mode] * hidden_size
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * directions
            for suffix in ("", "_reverse")[:directions]:
                names = [f"weight_ih_l{layer}{suffix}", f"weight_hh_l{layer}{suffix}"]
                shapes = [(gate_size, layer_input), (gate_size, hidden_size)]
                if bias:
                    names += [f"bias_ih_l{layer}{suffix}", f"bias_hh_l{layer}{suffix}"]
                    shapes += [(gate_size,), (gate_size,)]
                for name, shape in zip(names, shapes):  # every one U(-1/sqrt(hidden), 1/sqrt(hidden)), as PyTorch's
                    setattr(self, name, uniform_parameter(shape, hidden_size, device, dtype))

    def _weights(self, layer: int, suffix: str):
        def get(kind):
            return getattr(self, f"{kind}_l{layer}{suffix}") if self.bias or kind.startswith("weight") else None
        return get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh")

    def forward(self, input: Tensor, hx=None):
        lstm = self.mode == "LSTM"
        batched = input.dim() == 3
        if input.dim() not in (2, 3):
            raise ValueError(f"{type(self).__name__}: expected input to be 2-D or 3-D but received {input.dim()}-D tensor")
        x = input if batched else input.unsqueeze(1)
        if batched and self.batch_first:
            x = x.transpose(0, 1)
        if x.shape[-1] != self.input_size:
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                               f"got {x.shape[-1]}")
        directions = 2 if self.bidirectional else 1
        h0, c0 = (hx if lstm else (hx, None)) if hx is not None else (None, None)
        state_shape = (self.num_layers * directions, x.shape[1], self.hidden_size)
        h0 = self._initial_state(h0, state_shape, x, batched)
        c0 = self._initial_state(c0, state_shape, x, batched) if lstm else None
        step = _STEPS[self.mode]
        last_h, last_c = [], []
        for layer in range(self.num_layers):
            if layer > 0 and self.dropout:
                x = F.dropout(x, self.dropout, self.training)
            outputs = []
            for direction, suffix in enumerate(("", "_reverse")[:directions]):
                w_ih, w_hh, b_ih, b_hh = self._weights(layer, suffix)
                projected = F.linear(x, w_ih, b_ih)  # every time step's input part in one product
                h, c = h0[layer * directions + direction], c0[layer * directions + direction] if lstm else None
                times = range(x.shape[0] - 1, -1, -1) if direction else range(x.shape[0])
                hs = [None] * x.shape[0]
                for t in times:
                    h, c = step(projected[t], h, w_hh, b_hh, c)
                    hs[t] = h
                outputs.append(tensor_ops.stack(hs))
                last_h.append(h)
                last_c.append(c)
            x = outputs[0] if directions == 1 else tensor_ops.cat(outputs, -1)
        output = x.transpose(0, 1) if batched and self.batch_first else x
        h_n = tensor_ops.stack(last_h)
        states = (h_n, tensor_ops.stack(last_c)) if lstm else h_n
        if not batched:
            output = output.squeeze(1)
            states = tuple(s.squeeze(1) for s in states) if lstm else states.squeeze(1)
        return output, states

    def _initial_state(self, given: Optional[Tensor], shape: tuple, x: Tensor, batched: bool) -> Tensor:
        if given is None:
            return creation.zeros(*shape, dtype=x.dtype, device=x.device)
        state = given if batched else given.unsqueeze(1)
        if tuple(state.shape) != shape:
            raise RuntimeError(f"Expected hidden size {shape}, got {tuple(state.shape) if batched else tuple(given.shape)}")
        return state

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"  # PyTorch shows no nonlinearity here
        for name, default in (("num_layers", 1), ("bias", True), ("batch_first", False), ("dropout", 0.0),
                              ("bidirectional", False)):
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)}"
        return s


class RNN(RNNBase):
    """h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or relu)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh", **options):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size, hidden_size, num_layers,
                         **options)


class LSTM(RNNBase):
    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, **options):
        super().__init__("LSTM", input_size, hidden_size, num_layers, **options)


class GRU(RNNBase):
    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, **options):
        super().__init__("GRU", input_size, hidden_size, num_layers, **options)


class RNNCellBase(Module):
    def __init__(self, mode: str, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None):
        super().__init__()
        self.mode, self.input_size, self.hidden_size, self.bias = mode, input_size, hidden_size, bias
        gate_size = _GATES[mode] * hidden_size
        self.weight_ih = uniform_parameter((gate_size, input_size), hidden_size, device, dtype)
        self.weight_hh = uniform_parameter((gate_size, hidden_size), hidden_size, device, dtype)
        self.bias_ih = uniform_parameter((gate_size,), hidden_size, device, dtype) if bias else None
        self.bias_hh = uniform_parameter((gate_size,), hidden_size, device, dtype) if bias else None

    def forward(self, input: Tensor, hx=None):
        if input.dim() not in (1, 2):
            raise ValueError(f"{type(self).__name__}: Expected input to be 1D or 2D, got {input.dim()}D instead")
        batched = input.dim() == 2
        x = input if batched else input.unsqueeze(0)
        lstm = self.mode == "LSTM"
        if hx is None:
            zeros = creation.zeros(x.shape[0], self.hidden_size, dtype=x.dtype, device=x.device)
            hx = (zeros, zeros) if lstm else zeros
        elif not batched:
            hx = tuple(s.unsqueeze(0) for s in hx) if lstm else hx.unsqueeze(0)
        h, c = hx if lstm else (hx, None)
        h, c = _STEPS[self.mode](F.linear(x, self.weight_ih, self.bias_ih), h, self.weight_hh, self.bias_hh, c)
        out = (h, c) if lstm else h
        if not batched:
            out = tuple(s.squeeze(0) for s in out) if lstm else out.squeeze(0)
        return out

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        if self.mode == "RNN_RELU":
            s += ", nonlinearity='relu'"
        return s


class RNNCell(RNNCellBase):
    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh", **options):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity: {nonlinearity}")
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size, hidden_size, bias, **options)


class LSTMCell(RNNCellBase):
    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, **options):
        super().__init__("LSTM", input_size, hidden_size, bias, **options)


class GRUCell(RNNCellBase):
    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, **options):
        super().__init__("GRU", input_size, hidden_size, bias, **options)

