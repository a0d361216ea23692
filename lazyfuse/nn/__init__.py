"""lazyfuse.nn: modules, parameters and losses with PyTorch's names and behaviour."""
from __future__ import annotations

from . import functional
from .modules import (CrossEntropyLoss, LayerNorm, Linear, Module, MSELoss, Parameter, ReLU, Sequential, Sigmoid, Tanh)

__all__ = ["functional", "Module", "Parameter", "Linear", "LayerNorm", "ReLU", "Sigmoid", "Tanh", "Sequential", "MSELoss",
           "CrossEntropyLoss"]
