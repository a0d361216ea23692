"""lazyfuse.nn: modules, parameters, losses and initialisers with PyTorch's names and behaviour."""
from __future__ import annotations

from . import functional, init
from .conv_layers import (AdaptiveAvgPool1d, AdaptiveAvgPool2d, AvgPool1d, AvgPool2d, Conv1d, Conv2d, MaxPool1d,
                          MaxPool2d)
from .modules import (BatchNorm1d, BatchNorm2d, BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, Dropout, Embedding, Flatten, GELU, Identity, L1Loss,
                      LayerNorm, LeakyReLU, Linear, LogSoftmax, Module, ModuleList, MSELoss, NLLLoss, Parameter, ReLU,
                      Sequential, Sigmoid, SiLU, Softmax, Tanh)

__all__ = ["functional", "init", "Module", "Parameter", "Linear", "LayerNorm", "Embedding", "ReLU", "LeakyReLU", "GELU", "SiLU",
           "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Identity", "Flatten", "Dropout", "Sequential", "ModuleList",
           "MSELoss", "L1Loss", "BCELoss", "BCEWithLogitsLoss", "NLLLoss", "CrossEntropyLoss", "Conv1d", "Conv2d",
           "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d",
           "BatchNorm1d", "BatchNorm2d"]
