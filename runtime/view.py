"""Strided views: how a tensor's multi-index maps to a flat position in its source.

A View is a shape, strides, an offset and an optional validity mask (one
half-open range per dim; positions outside read as zero, which is how padding
works). Movement ops (reshape, permute, expand, shrink, stride, pad) are
methods returning a new View, or None for a reshape that no single strided
view can express; the graph then stacks a second view node instead.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Optional


def contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides, acc = [], 1
    for size in reversed(shape):
        strides.append(acc if size != 1 else 0)
        acc *= size
    return tuple(reversed(strides))


Mask = Optional[tuple[tuple[int, int], ...]]


@dataclass(frozen=True)
class View:
    shape: tuple[int, ...]
    strides: tuple[int, ...]
    offset: int = 0
    mask: Mask = None

    def __hash__(self) -> int:
        # computed once: every node key and schedule key holding a view hashes it
        cached = self.__dict__.get("_hash")
        if cached is None:
            cached = hash((self.shape, self.strides, self.offset, self.mask))
            object.__setattr__(self, "_hash", cached)
        return cached

    @staticmethod
    def contiguous(shape: tuple[int, ...]) -> "View":
        return _contiguous(tuple(shape))

    @staticmethod
    def _make(shape, strides, offset, mask) -> "View":
        shape = tuple(shape)
        if mask is not None:
            mask = tuple((max(lo, 0), min(hi, s)) for (lo, hi), s in zip(mask, shape))
            if any(lo >= hi for lo, hi in mask):
                mask = tuple((0, 0) for _ in shape)  # nothing is valid
            elif all(lo == 0 and hi == s for (lo, hi), s in zip(mask, shape)):
                mask = None
        # a size-1 dim's stride never matters; zero keeps equal views equal
        strides = tuple(0 if s == 1 else st for s, st in zip(shape, strides))
        return View(shape, strides, offset, mask)

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @functools.cached_property  # views are immutable, and movement ops reuse them (runtime/movement.py)
    def is_contiguous(self) -> bool:
        """True when index i of the flattened view reads source position i."""
        return self.mask is None and self.offset == 0 and self.strides == contiguous_strides(self.shape)

    @property
    def reads_nothing(self) -> bool:
        """True when every position is masked off: the view reads zeros only."""
        return self.mask is not None and any(lo >= hi for lo, hi in self.mask)

    @property
    def is_flat_shift(self) -> bool:
        """True when the view reads a contiguous run of the source starting at offset."""
        return self.mask is None and self.strides == contiguous_strides(self.shape)

    # movement ops ---------------------------------------------------------------
    def permute(self, order: tuple[int, ...]) -> "View":
        mask = None if self.mask is None else tuple(self.mask[d] for d in order)
        return View._make([self.shape[d] for d in order], [self.strides[d] for d in order], self.offset, mask)

    def expand(self, shape: tuple[int, ...]) -> "View":
        mask = None
        if self.mask is not None:
            mask = tuple(m if s == n else ((0, n) if m == (0, 1) else (0, 0))
                         for m, s, n in zip(self.mask, self.shape, shape))
        strides = [st if s == n else 0 for st, s, n in zip(self.strides, self.shape, shape)]
        return View._make(shape, strides, self.offset, mask)

    def shrink(self, ranges: tuple[tuple[int, int], ...]) -> "View":
        offset = self.offset + sum(lo * st for (lo, _), st in zip(ranges, self.strides))
        mask = None
        if self.mask is not None:
            mask = tuple((mlo - lo, mhi - lo) for (mlo, mhi), (lo, _) in zip(self.mask, ranges))
        return View._make([hi - lo for lo, hi in ranges], self.strides, offset, mask)

    def stride(self, steps: tuple[int, ...]) -> "View":
        """Take every step-th element along each dim; a negative step walks backwards."""
        shape, strides, offset = list(self.shape), list(self.strides), self.offset
        mask = list(self.mask) if self.mask is not None else None
        for d, step in enumerate(steps):
            size = shape[d]
            if step < 0:
                offset += (size - 1) * strides[d]
                strides[d] = -strides[d]
                if mask is not None:
                    lo, hi = mask[d]
                    mask[d] = (size - hi, size - lo)
            k = abs(step)
            shape[d] = -(-size // k)
            strides[d] *= k
            if mask is not None:
                lo, hi = mask[d]
                mask[d] = (-(-lo // k), -(-hi // k))
        return View._make(shape, strides, offset, mask)

    def pad(self, pads: tuple[tuple[int, int], ...]) -> "View":
        mask = self.mask or tuple((0, s) for s in self.shape)
        mask = tuple((lo + before, hi + before) for (lo, hi), (before, _) in zip(mask, pads))
        offset = self.offset - sum(before * st for (before, _), st in zip(pads, self.strides))
        shape = [s + before + after for s, (before, after) in zip(self.shape, pads)]
        return View._make(shape, self.strides, offset, mask)

    def windows(self, spec: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]) -> Optional["View"]:
        """Sliding windows over the last len(kernel) dims, spec = (kernel, stride,
        dilation): shape (*lead, *counts, *kernel), window o's element i at o * stride
        + i * dilation (windows overlap where stride < kernel). None for a masked
        view, whose validity would not be a range per dim."""
        kernel, stride, dilation = spec
        if self.mask is not None:
            return None
        k = len(kernel)
        sizes, strides = self.shape[len(self.shape) - k:], self.strides[len(self.strides) - k:]
        counts = [(n - d * (w - 1) - 1) // s + 1 for n, w, s, d in zip(sizes, kernel, stride, dilation)]
        return View._make(self.shape[:len(self.shape) - k] + tuple(counts) + tuple(kernel),
                          self.strides[:len(self.strides) - k] + tuple(st * s for st, s in zip(strides, stride))
                          + tuple(st * d for st, d in zip(strides, dilation)), self.offset, None)

    def reshape(self, shape: tuple[int, ...]) -> Optional["View"]:
        shape = tuple(shape)
        if shape == self.shape:
            return self
        if math.prod(shape) == 0:
            return View.contiguous(shape)
        if self.mask is not None:
            return self._reshape_masked(shape)
        old = [(s, st) for s, st in zip(self.shape, self.strides) if s != 1]
        strides = [0] * len(shape)
        oi, nj = 0, 0
        while nj < len(shape):
            if shape[nj] == 1:
                nj += 1
                continue
            group_old, group_new = [old[oi]], [nj]
            old_size, new_size = old[oi][0], shape[nj]
            oi, nj = oi + 1, nj + 1
            while old_size != new_size:
                if old_size < new_size:
                    group_old.append(old[oi])
                    old_size *= old[oi][0]
                    oi += 1
                else:
                    group_new.append(nj)
                    new_size *= shape[nj]
                    nj += 1
            # the old dims of a group must walk memory as one dim for the new dims to split it
            if any(outer[1] != inner[0] * inner[1] for outer, inner in zip(group_old, group_old[1:])):
                return None
            acc = group_old[-1][1]
            for j in reversed(group_new):
                strides[j] = acc
                acc *= shape[j]
        return View._make(shape, strides, self.offset, None)

    def _reshape_masked(self, shape: tuple[int, ...]) -> Optional["View"]:
        """A masked view reshapes only by adding or removing size-1 dims."""
        kept = [d for d, s in enumerate(self.shape) if s != 1]
        if [self.shape[d] for d in kept] != [s for s in shape if s != 1]:
            return None
        if self.reads_nothing:  # no mask can say so of a 0-d view: the caller makes it a node (a zero)
            return None
        it = iter(kept)
        strides, mask = [], []
        for s in shape:
            if s == 1:
                strides.append(0)
                mask.append((0, 1))
            else:
                d = next(it)
                strides.append(self.strides[d])
                mask.append(self.mask[d])
        return View._make(shape, strides, self.offset, tuple(mask))

    # for code generation ----------------------------------------------------------
    def merged_dims(self) -> list[tuple[int, int, tuple[int, int]]]:
        """(size, stride, valid range) per dim, size-1 dims dropped and adjacent dims
        that walk memory as one merged, so index arithmetic has fewer divisions."""
        mask = self.mask or tuple((0, s) for s in self.shape)
        dims: list[tuple[int, int, tuple[int, int]]] = []
        for s, st, m in zip(self.shape, self.strides, mask):
            if s == 1 and m == (0, 1):
                continue
            if dims:
                ps, pst, pm = dims[-1]
                if pst == st * s and pm == (0, ps) and m == (0, s):
                    dims[-1] = (ps * s, st, (0, ps * s))
                    continue
            dims.append((s, st, m))
        return dims


@functools.lru_cache(maxsize=4096)
def _contiguous(shape: tuple[int, ...]) -> View:
    return View(shape, contiguous_strides(shape))
