"""lazyfuse.nn: modules, parameters, losses and initialisers with PyTorch's names and behaviour."""
from __future__ import annotations

from . import embedding_bag, functional, init, losses, normalization, reshaping, utils
from .conv_layers import (AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveMaxPool1d, AdaptiveMaxPool2d, AvgPool1d,
                          AvgPool2d, AvgPool3d, AdaptiveAvgPool3d, AdaptiveMaxPool3d, Conv1d, Conv2d, Conv3d,
                          ConvTranspose1d, ConvTranspose2d, ConvTranspose3d, Fold, MaxPool1d, MaxPool2d, MaxPool3d,
                          Unfold)
from .embedding_bag import EmbeddingBag
from .losses import (CosineEmbeddingLoss, GaussianNLLLoss, HingeEmbeddingLoss, MarginRankingLoss,
                     MultiLabelSoftMarginLoss, PoissonNLLLoss, SoftMarginLoss, TripletMarginLoss)
from .normalization import InstanceNorm1d, InstanceNorm2d, InstanceNorm3d, RMSNorm
from .padding import (CircularPad1d, CircularPad2d, CircularPad3d, ConstantPad1d, ConstantPad2d, ConstantPad3d,
                      ReflectionPad1d, ReflectionPad2d, ReflectionPad3d, ReplicationPad1d, ReplicationPad2d,
                      ReplicationPad3d, ZeroPad1d, ZeroPad2d, ZeroPad3d)
from .reshaping import ChannelShuffle, PixelShuffle, PixelUnshuffle, Unflatten
from .modules import (CosineSimilarity, Dropout1d, Dropout3d, Hardshrink, PairwiseDistance, ParameterDict,
                      ParameterList, Softmax2d, Softshrink, Tanhshrink)
from .modules import (BatchNorm1d, BatchNorm3d, Bilinear, Dropout2d, LocalResponseNorm, KLDivLoss, ModuleDict, PReLU, BatchNorm2d, BCELoss, BCEWithLogitsLoss, CELU, CrossEntropyLoss, Dropout, ELU,
                      Embedding, Flatten, GELU, GLU, GroupNorm, Hardsigmoid, Hardswish, Hardtanh, HuberLoss, Identity, L1Loss,
                      LayerNorm, LeakyReLU, Linear, LogSigmoid, LogSoftmax, Mish, Module, ModuleList, MSELoss, NLLLoss,
                      Parameter, ReLU, ReLU6, SELU, Sequential, Sigmoid, SiLU, SmoothL1Loss, Softmax, Softmin,
                      Softplus, Softsign, Tanh, Threshold)
from .attention import MultiheadAttention
from .recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from .resampling import Upsample, UpsamplingBilinear2d, UpsamplingNearest2d
from .transformer import (Transformer, TransformerDecoder, TransformerDecoderLayer, TransformerEncoder,
                          TransformerEncoderLayer)

__all__ = ["functional", "init", "utils", "Module", "Parameter", "Linear", "LayerNorm", "Embedding", "ReLU", "LeakyReLU", "GELU", "SiLU",
           "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Identity", "Flatten", "Dropout", "Sequential", "ModuleList",
           "MSELoss", "L1Loss", "BCELoss", "BCEWithLogitsLoss", "NLLLoss", "CrossEntropyLoss", "Conv1d", "Conv2d",
           "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d",
           "BatchNorm1d", "BatchNorm2d", "ReLU6", "Hardtanh", "ELU", "SELU", "CELU", "Softplus", "LogSigmoid", "Mish",
           "Softsign", "Hardsigmoid", "Hardswish", "Threshold", "GLU", "Softmin", "SmoothL1Loss", "HuberLoss",
           "GroupNorm", "ConvTranspose1d", "ConvTranspose2d", "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "Upsample",
           "UpsamplingNearest2d", "UpsamplingBilinear2d", "MultiheadAttention",
           "TransformerEncoderLayer", "TransformerEncoder", "Dropout2d", "KLDivLoss", "ModuleDict", "PReLU",
           "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "CosineEmbeddingLoss", "GaussianNLLLoss", "HingeEmbeddingLoss",
           "MarginRankingLoss", "MultiLabelSoftMarginLoss", "PoissonNLLLoss", "SoftMarginLoss", "TripletMarginLoss",
           "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "RMSNorm", "CircularPad1d", "CircularPad2d",
           "CircularPad3d", "ConstantPad1d", "ConstantPad2d", "ConstantPad3d", "ReflectionPad1d", "ReflectionPad2d",
           "ReflectionPad3d", "ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d", "ZeroPad1d", "ZeroPad2d",
           "ZeroPad3d", "ChannelShuffle", "PixelShuffle", "PixelUnshuffle", "Unflatten", "CosineSimilarity",
           "Dropout1d", "Dropout3d", "Hardshrink", "PairwiseDistance", "ParameterDict", "ParameterList", "Softmax2d",
           "Softshrink", "Tanhshrink", "Transformer", "TransformerDecoder", "TransformerDecoderLayer", "EmbeddingBag",
           "Fold", "Unfold", "Conv3d", "ConvTranspose3d", "MaxPool3d", "AvgPool3d", "AdaptiveAvgPool3d",
           "AdaptiveMaxPool3d", "BatchNorm3d", "Bilinear", "LocalResponseNorm"]

# functional forms defined beside their modules, published where PyTorch has them
for _module in (embedding_bag, losses, normalization, reshaping):
    for _name in _module.FUNCTIONAL:
        setattr(functional, _name, getattr(_module, _name))
