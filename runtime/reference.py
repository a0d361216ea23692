"""The reference executor: evaluates graph nodes with numpy, one op at a time.

It shares nothing with the scheduler or the renderers, which makes it the
oracle every backend's results are compared with in tests. Evaluate a node
before realizing it: a realized node forgets how it was computed.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from .graph import Node, Op, toposort
from .random_bits import uniform
from .realize import read
from .view import View


def _sigmoid(a: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-a)), 0 where exp(-a) overflows (as in PyTorch's float32 sigmoid)."""
    x = a.astype(np.float32) if a.dtype == np.float16 else a  # rounded once, as the device does
    with np.errstate(over="ignore"):
        return (1 / (1 + np.exp(-x))).astype(a.dtype)


_UNARY = {Op.NEG: np.negative, Op.EXP: np.exp, Op.LOG: np.log, Op.EXP2: np.exp2, Op.LOG2: np.log2,
          Op.SIN: np.sin, Op.COS: np.cos, Op.SQRT: np.sqrt, Op.TANH: np.tanh, Op.ABS: np.abs,
          Op.NOT: np.logical_not, Op.RECIP: np.reciprocal,
          Op.ERF: lambda a: np.vectorize(math.erf, otypes=[a.dtype])(a), Op.SIGMOID: _sigmoid}
_BINARY = {Op.ADD: np.add, Op.SUB: np.subtract, Op.MUL: np.multiply, Op.DIV: np.divide,
           Op.FLOORDIV: np.floor_divide, Op.MOD: np.remainder, Op.POW: np.power, Op.MAX: np.maximum,
           Op.MIN: np.minimum, Op.LT: np.less, Op.LE: np.less_equal, Op.EQ: np.equal, Op.NE: np.not_equal}


def apply_view(src: np.ndarray, view: View) -> np.ndarray:
    flat = src.reshape(-1)
    position = np.full(view.shape, view.offset, dtype=np.int64)
    valid = np.ones(view.shape, dtype=bool)
    for d, (size, stride) in enumerate(zip(view.shape, view.strides)):
        coord = np.arange(size).reshape([size if i == d else 1 for i in range(len(view.shape))])
        position = position + coord * stride
        if view.mask is not None:
            lo, hi = view.mask[d]
            valid = valid & (coord >= lo) & (coord < hi)
    if flat.size == 0:
        return np.zeros(view.shape, dtype=src.dtype)
    gathered = flat[np.where(valid, position, 0)]
    return np.where(valid, gathered, np.zeros((), dtype=src.dtype))


def _reduce(node: Node, x: np.ndarray) -> np.ndarray:
    axes = tuple(node.arg)
    if node.op is Op.SUM:
        return np.sum(x, axis=axes, keepdims=True)
    if node.op is Op.PROD:
        return np.prod(x, axis=axes, keepdims=True)
    fn = np.max if node.op is Op.REDUCE_MAX else np.min
    return fn(x, axis=axes, keepdims=True)


def evaluate(node: Node) -> np.ndarray:
    with np.errstate(all="ignore"):
        return _evaluate(node)


def _evaluate(node: Node) -> np.ndarray:
    values: dict[int, np.ndarray] = {}
    for n in toposort([node]):
        srcs = [values[id(s)] for s in n.srcs]
        if n.is_realized:
            out = read(n)
        elif n.op is Op.CONST:
            out = np.full(n.shape, n.arg, dtype=n.dtype.np_dtype)
        elif n.op is Op.VIEW:
            out = apply_view(srcs[0], n.arg)
        elif n.op is Op.CAST:
            out = srcs[0].astype(n.dtype.np_dtype)
        elif n.op in _UNARY:
            out = _UNARY[n.op](srcs[0])
        elif n.op in _BINARY:
            if n.op is Op.POW and srcs[0].dtype.kind in "iu":  # PyTorch's integer powers
                a, b = srcs
                out = np.where((b < 0) & (a != 1) & (a != -1), 0, np.power(a, np.abs(b)))
            elif n.op in (Op.FLOORDIV, Op.MOD) and srcs[0].dtype.kind in "iub":
                zero = srcs[1] == 0  # integer division by zero gives 0, as the kernels do
                out = np.where(zero, 0, _BINARY[n.op](srcs[0], np.where(zero, 1, srcs[1])))
            else:
                out = _BINARY[n.op](srcs[0], srcs[1])
        elif n.op is Op.WHERE:
            out = np.where(srcs[0], srcs[1], srcs[2])
        elif n.op is Op.RAND:
            out = uniform(srcs[0], n.dtype)
        elif n.op is Op.POSITION:
            out = np.arange(n.numel).reshape(n.shape)
        elif n.op is Op.GATHER:
            out = srcs[0].reshape(-1)[srcs[1]]
        else:
            out = _reduce(n, srcs[0])
        values[id(n)] = np.asarray(out).astype(n.dtype.np_dtype).reshape(n.shape)
    return values[id(node)]


def fold_constants(op: Op, arg, srcs: list[Node], shape: tuple[int, ...], dtype) -> Node:
    """An elementwise op on constants, computed here: a constant needs no kernel."""
    # the repr keeps 1, 1.0 and True apart in the cache key
    constants = tuple((type(s.arg).__name__, repr(s.arg), s.arg, s.dtype) for s in srcs)
    return Node.make(Op.CONST, (), _folded(op, arg, constants, dtype), shape, dtype, srcs[0].device)


@functools.lru_cache(maxsize=4096)
def _folded(op: Op, arg, constants: tuple, dtype):
    """The value of op on scalar constants (cached: a training step folds the same
    ones every step, and evaluating costs tens of microseconds). The device named
    on these nodes is never used: constants need no buffer to evaluate."""
    scalars = tuple(Node.make(Op.CONST, (), value, (), value_dtype, "cpu") for _, _, value, value_dtype in constants)
    return evaluate(Node.make(op, scalars, arg, (), dtype, "cpu")).item()
