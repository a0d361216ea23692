"""EmbeddingBag and embedding_bag: the sum, mean or max of the embedding rows of
each bag, without materialising the rows per bag as PyTorch's API promises.
Bags are the rows of a 2-d input, or the runs of a 1-d input that `offsets`
starts (read on the host: they set which position joins which bag). Each bag
is a row of a (bags, positions) membership matrix: sum and mean are its product
with the looked-up rows, max a masked reduction over them."""
from __future__ import annotations

import math

import numpy as np

from .. import creation
from ..functional import where
from ..tensor import Tensor
from .functional import embedding
from .modules import Module, Parameter

MODES = ("sum", "mean", "max")


def embedding_bag(input: Tensor, weight: Tensor, offsets: Tensor | None = None, max_norm=None, norm_type: float = 2,
                  scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False,
                  per_sample_weights: Tensor | None = None, include_last_offset: bool = False,
                  padding_idx: int | None = None) -> Tensor:
    if mode not in MODES:
        raise ValueError(f"mode has to be one of sum, mean or max, got {mode!r}")
    if max_norm is not None or scale_grad_by_freq:
        raise NotImplementedError("embedding_bag: max_norm and scale_grad_by_freq are not supported")
    if per_sample_weights is not None and mode != "sum":
        raise NotImplementedError(f"embedding_bag: per_sample_weights was not None. per_sample_weights is only "
                                  f"supported for mode='sum' (got mode='{mode}'). Please open a feature request "
                                  f"on GitHub.")
    if input.ndim == 2:
        if offsets is not None:
            raise ValueError("if input is 2D, then offsets has to be None, as input is treated is a mini-batch of "
                             "fixed length sequences.")
        bags, length = input.shape
        member = np.repeat(np.arange(bags), length)
        input, per_sample_weights = input.reshape(-1), (per_sample_weights.reshape(-1)
                                                        if per_sample_weights is not None else None)
    elif input.ndim == 1:
        if offsets is None or offsets.ndim != 1:
            raise ValueError("offsets has to be a 1D Tensor but got None" if offsets is None
                             else f"offsets has to be a 1D Tensor, but got Tensor of dimension {offsets.ndim}")
        starts = offsets.detach().numpy().astype(np.int64)
        if include_last_offset:
            starts = starts[:-1]
        bags = len(starts)
        member = np.searchsorted(starts, np.arange(input.shape[0]), side="right") - 1
    else:
        raise ValueError(f"input has to be 1D or 2D Tensor, but got Tensor of dimension {input.ndim}")
    positions = input.shape[0]
    membership = creation.tensor(member[None, :] == np.arange(bags)[:, None], device=input.device)  # (bags, positions)
    if padding_idx is not None:
        membership = membership & (input != padding_idx % weight.shape[0])
    rows = embedding(input, weight)  # (positions, dim)
    if per_sample_weights is not None:
        rows = rows * per_sample_weights.unsqueeze(-1)
    if mode == "max":
        taken = membership.unsqueeze(-1)
        largest = where(taken, rows.unsqueeze(0), -math.inf).amax(1)
        return where(taken.any(1), largest, 0.0)  # an empty bag is zeros, as in PyTorch
    if positions == 0:
        return creation.zeros(bags, weight.shape[1], dtype=weight.dtype, device=weight.device)
    summed = membership.cast(weight.dtype) @ rows
    if mode == "sum":
        return summed
    counts = membership.sum(1, keepdim=True)
    return summed / counts.clamp_min(1).cast(weight.dtype)


class EmbeddingBag(Module):
    """A table of num_embeddings rows (initialised N(0, 1), as PyTorch does) reduced per bag by mode."""

    def __init__(self, num_embeddings: int, embedding_dim: int, max_norm=None, norm_type: float = 2.0,
                 scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False, _weight=None,
                 include_last_offset: bool = False, padding_idx: int | None = None, device=None, dtype=None):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"mode has to be one of sum, mean or max, got {mode!r}")
        self.num_embeddings, self.embedding_dim, self.mode = num_embeddings, embedding_dim, mode
        self.include_last_offset, self.padding_idx = include_last_offset, padding_idx
        weight = _weight if _weight is not None else creation.randn(num_embeddings, embedding_dim, device=device,
                                                                     dtype=dtype)
        if padding_idx is not None and _weight is None:
            weight = where((creation.arange(num_embeddings, device=device) == padding_idx % num_embeddings)
                           .unsqueeze(1), 0.0, weight)
        self.weight = Parameter(weight)

    def forward(self, input: Tensor, offsets: Tensor | None = None,
                per_sample_weights: Tensor | None = None) -> Tensor:
        return embedding_bag(input, self.weight, offsets, mode=self.mode, per_sample_weights=per_sample_weights,
                             include_last_offset=self.include_last_offset, padding_idx=self.padding_idx)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}, mode='{self.mode}'"


FUNCTIONAL = ["embedding_bag"]
