"""Attention: scaled_dot_product_attention and nn.MultiheadAttention, with
PyTorch's parameters (in_proj_weight, in_proj_bias, out_proj), layouts (batch
first or not, unbatched) and masks (boolean or added; attn_mask, key_padding_mask,
is_causal). Scores, softmax and the weighted sum are products and a fused row
kernel; nothing is special-cased."""
from __future__ import annotations

import math
from typing import Optional

from .. import creation
from ..runtime import dtypes
from ..tensor import Tensor
from . import functional as F
from . import init
from .modules import Linear, Module, Parameter


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor, attn_mask: Optional[Tensor] = None,
                                 dropout_p: float = 0.0, is_causal: bool = False, scale: Optional[float] = None,
                                 enable_gqa: bool = False) -> Tensor:
    """softmax(query @ key^T * scale + mask) @ value over the last two dims; a boolean
    attn_mask says which positions take part (True), a float one is added."""
    if enable_gqa:
        raise NotImplementedError("scaled_dot_product_attention: enable_gqa is not supported by lazyfuse")
    scale = 1 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = (query * scale) @ key.transpose(-2, -1)
    if is_causal:
        if attn_mask is not None:
            raise RuntimeError("scaled_dot_product_attention: is_causal and attn_mask cannot both be set")
        length, source = scores.shape[-2:]
        attn_mask = creation.ones(length, source, dtype=dtypes.bool_, device=query.device).tril()
    if attn_mask is not None:
        scores = _masked(scores, attn_mask, allowed=True)
    weights = scores.softmax(-1)
    if dropout_p > 0.0:
        weights = F.dropout(weights, dropout_p)
    return weights @ value


def _masked(scores: Tensor, mask: Tensor, allowed: bool) -> Tensor:
    """scores with a float mask added, or -inf where a boolean mask says a position is
    left out (`allowed`: True marks the positions that take part, else those left out)."""
    if mask.dtype is dtypes.bool_:
        return scores.masked_fill(~mask if allowed else mask, -math.inf)
    return scores + mask


class MultiheadAttention(Module):
    """PyTorch's multi-head attention: the query, key and value projected by the rows of
    in_proj_weight (xavier-uniform; biases zero), split into heads, attended, joined
    and projected by out_proj. Returns (output, weights averaged over the heads or not)."""

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim=None, vdim=None,
                 batch_first: bool = False, device=None, dtype=None):
        super().__init__()
        if add_bias_kv or add_zero_attn or kdim not in (None, embed_dim) or vdim not in (None, embed_dim):
            raise NotImplementedError("MultiheadAttention: add_bias_kv, add_zero_attn and key or value sizes other "
                                      "than embed_dim are not supported by lazyfuse")
        if embed_dim % num_heads:
            raise AssertionError("embed_dim must be divisible by num_heads")
        self.embed_dim, self.num_heads, self.dropout, self.batch_first = embed_dim, num_heads, dropout, batch_first
        self.head_dim = embed_dim // num_heads
        self.in_proj_weight = Parameter(init.xavier_uniform_(creation.empty(3 * embed_dim, embed_dim, device=device,
                                                                            dtype=dtype)))
        self.in_proj_bias = Parameter(creation.zeros(3 * embed_dim, device=device, dtype=dtype)) if bias else None
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, device=device, dtype=dtype)
        if bias:
            init.zeros_(self.out_proj.bias)

    def forward(self, query: Tensor, key: Tensor, value: Tensor, key_padding_mask: Optional[Tensor] = None,
                need_weights: bool = True, attn_mask: Optional[Tensor] = None, average_attn_weights: bool = True,
                is_causal: bool = False):
        batched = query.ndim == 3
        if batched and not self.batch_first:  # to (batch, length, embed)
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        elif not batched:
            query, key, value = (t.unsqueeze(0) for t in (query, key, value))
            key_padding_mask = None if key_padding_mask is None else key_padding_mask.unsqueeze(0)
        if query.shape[-1] != self.embed_dim:
            raise AssertionError(f"was expecting embedding dimension of {self.embed_dim}, but got {query.shape[-1]}")
        if is_causal and attn_mask is None:
            raise RuntimeError("MultiheadAttention: is_causal needs attn_mask (PyTorch takes it as a hint)")
        n, length, source = query.shape[0], query.shape[1], key.shape[1]
        w_q, w_k, w_v = self.in_proj_weight.chunk(3)
        b_q, b_k, b_v = self.in_proj_bias.chunk(3) if self.in_proj_bias is not None else (None,) * 3
        q, k, v = (self._heads(F.linear(t, w, b)) for t, w, b in ((query, w_q, b_q), (key, w_k, b_k),
                                                                  (value, w_v, b_v)))
        scores = (q * (1 / math.sqrt(self.head_dim))) @ k.transpose(-2, -1)  # (n, heads, length, source)
        if attn_mask is not None:
            mask = attn_mask if attn_mask.ndim == 2 else attn_mask.reshape(n, self.num_heads, length, source)
            scores = _masked(scores, mask, allowed=False)
        if key_padding_mask is not None:
            scores = _masked(scores, key_padding_mask.reshape(n, 1, 1, source), allowed=False)
        weights = scores.softmax(-1)
        attended = F.dropout(weights, self.dropout, self.training) @ v
        out = self.out_proj(attended.transpose(1, 2).reshape(n, length, self.embed_dim))
        if batched and not self.batch_first:
            out = out.transpose(0, 1)
        elif not batched:
            out = out.squeeze(0)
        if not need_weights:
            return out, None
        weights = weights.mean(1) if average_attn_weights else weights
        return out, weights if batched else weights.squeeze(0)

    def _heads(self, t: Tensor) -> Tensor:
        """(batch, length, embed) -> (batch, heads, length, head_dim)."""
        return t.reshape(t.shape[0], t.shape[1], self.num_heads, self.head_dim).transpose(1, 2)
