"""Matrix inverse, determinant and solve (lazyfuse.linalg's inv, det, slogdet,
solve; the top-level inverse, det, logdet, slogdet), computed by numpy's LAPACK
on the host.

They are sequential eliminations, not the elementwise work and reductions
lazyfuse fuses, so the matrix is read (a wait for what computes it), factored
on the host and the result uploaded. Their gradients are lazy ops (products
with the inverse), and they call these functions again when a graph of the
gradient is kept (create_graph), so second derivatives are exact too.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .autograd.custom_function import Function
from .autograd.grad_mode import grad_enabled
from .tensor import Tensor


class LinAlgError(RuntimeError):
    """A matrix the operation is not defined for (a singular one, for inv and solve)."""


def _host_matrices(A: Tensor, name: str) -> np.ndarray:
    if A.ndim < 2:
        raise RuntimeError(f"linalg.{name}: The input tensor A must have at least 2 dimensions.")
    if A.shape[-1] != A.shape[-2]:
        raise RuntimeError(f"linalg.{name}: A must be batches of square matrices, but they are {A.shape[-2]} by "
                           f"{A.shape[-1]} matrices")
    if not A.dtype.is_floating_point:
        raise RuntimeError(f"linalg.{name}: Expected a floating point or complex tensor as input. Got "
                           f"{A.dtype.name.capitalize()}")
    return A.detach()._value()


def _uploaded(values: np.ndarray, like: Tensor) -> Tensor:
    from .creation import tensor
    return tensor(np.asarray(values).astype(like.dtype.np_dtype), device=like.device)


def _solved(name: str, solve, *arrays) -> np.ndarray:
    try:
        return solve(*arrays)
    except np.linalg.LinAlgError as e:
        raise LinAlgError(f"linalg.{name}: The input matrix is singular ({e}); it has no inverse") from None


class _Inverse(Function):
    @staticmethod
    def forward(ctx, A):
        inverse = _uploaded(_solved("inv", np.linalg.inv, _host_matrices(A, "inv")), A)
        ctx.save_for_backward(A, inverse)
        return inverse

    @staticmethod
    def backward(ctx, g):
        A, inverse = ctx.saved_tensors
        inverse_t = (inv(A) if grad_enabled() else inverse).mT  # again, differentiably, under create_graph
        return -(inverse_t @ g @ inverse_t)


class _LogAbsDet(Function):
    @staticmethod
    def forward(ctx, A):
        _, logabsdet = np.linalg.slogdet(_host_matrices(A, "slogdet"))
        ctx.save_for_backward(A)
        return _uploaded(logabsdet, A)

    @staticmethod
    def backward(ctx, g):
        A, = ctx.saved_tensors
        return g[..., None, None] * inv(A).mT


class _Solve(Function):
    @staticmethod
    def forward(ctx, A, B):
        X = _uploaded(_solved("solve", np.linalg.solve, _host_matrices(A, "solve"), B.detach()._value()), B)
        ctx.save_for_backward(A, B, X)
        return X

    @staticmethod
    def backward(ctx, g):
        A, B, X = ctx.saved_tensors
        X = solve(A, B) if grad_enabled() else X  # again, differentiably, under create_graph
        gB = solve(A.mT, g)
        gA = -(gB @ X.mT)
        return gA.sum(tuple(range(gA.ndim - A.ndim))) if gA.ndim > A.ndim else gA, gB


def inv(A: Tensor) -> Tensor:
    """The inverse of each square matrix in A's last two dims."""
    return _Inverse.apply(A)


class SlogdetResult(NamedTuple):
    sign: Tensor
    logabsdet: Tensor


def slogdet(A: Tensor) -> SlogdetResult:
    """The sign of each determinant (no gradient) and the log of its magnitude."""
    sign, _ = np.linalg.slogdet(_host_matrices(A, "slogdet"))
    return SlogdetResult(_uploaded(sign, A), _LogAbsDet.apply(A))


def det(A: Tensor) -> Tensor:
    """Each square matrix's determinant: sign * exp(log |det|), so its gradient is
    det * inv(A)^T (a singular matrix's gradient raises: PyTorch's is the adjugate)."""
    sign, logabsdet = slogdet(A)
    return sign * logabsdet.exp()


def logdet(A: Tensor) -> Tensor:
    """log(det(A)): NaN where the determinant is negative, -inf where it is zero."""
    from .functional import where
    sign, logabsdet = slogdet(A)
    return where(sign < 0, float("nan"), logabsdet)


def solve(A: Tensor, B: Tensor, *, left: bool = True) -> Tensor:
    """X with A @ X = B (left=False: X @ A = B), for square A; B a matrix (or batch of
    them, A's batch dims broadcast to B's), or a vector where A is one matrix."""
    if not left:
        return solve(A.mT, B.mT).mT
    if B.ndim == 1:
        if A.ndim != 2:
            raise RuntimeError("linalg.solve: a vector B needs A to be one matrix; unsqueeze B's last dim")
        return solve(A, B.unsqueeze(-1)).squeeze(-1)
    if A.shape[-1] != B.shape[-2]:
        raise RuntimeError(f"linalg.solve: Incompatible shapes of A and B for the equation AX = B "
                           f"({A.shape[-2]}x{A.shape[-1]} and {B.shape[-2]}x{B.shape[-1]})")
    if A.ndim > B.ndim or A.shape[:-2] != B.shape[B.ndim - A.ndim:-2]:
        raise RuntimeError(f"linalg.solve: A's batch dims {tuple(A.shape[:-2])} must be the last of B's "
                           f"{tuple(B.shape[:-2])}")
    return _Solve.apply(A, B)


METHODS = {"inverse": inv, "det": det, "logdet": logdet, "slogdet": slogdet}
for _name, _fn in METHODS.items():
    setattr(Tensor, _name, _fn)
