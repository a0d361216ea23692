"""Derivative rules: for each primitive op, the gradients of its inputs from
the gradient of its output, written with lazy tensor ops so the backward
pass is more graph that the scheduler fuses.

Inputs of elementwise primitives are cast to the output's dtype, and may be
broadcast to its shape: their gradients are summed back to their own shapes
(`_sum_to`), as is `expand`'s. Ties: `maximum`/`minimum` split the
gradient equally between tied inputs, and amax/amin share it equally among the
tied elements of a row, as PyTorch does; so does x ** 0 pass no gradient to x,
even at x = 0.
"""
from __future__ import annotations

import dis
import itertools
import math

from lazyfuse.runtime import dtypes
from lazyfuse.runtime.graph import Node, Op
from lazyfuse.runtime.writeback import embed_steps, write_through


def _sign(a):
    return (a > 0).cast(a.dtype) - (a < 0).cast(a.dtype)


def _pow_exponent(a, b, g):
    grad = g * a.pow(b) * a.log()
    return grad.where(~((a == 0) & (b >= 0)), 0)


def _spread(g, a, axes):
    """A reduction's gradient g (reduced axes kept or not) spread back over its input a."""
    return g.reshape(tuple(1 if d in axes else s for d, s in enumerate(a.shape))).expand(a.shape)


def _reduce_max(fn, g, a, is_max):
    best = (a.amax(fn.arg, keepdim=True) if is_max else a.amin(fn.arg, keepdim=True))
    hit = (a == best).cast(a.dtype)
    return [_spread(g, a, fn.arg) * hit / hit.sum(fn.arg, keepdim=True).expand(a.shape)]


def _prod(fn, g, a):
    zero = a == 0
    nonzero = a.where(~zero, 1)
    others = nonzero.prod(fn.arg, keepdim=True).expand(a.shape)
    zeros = zero.sum(fn.arg, keepdim=True).expand(a.shape)
    grad = others.where(zeros == 1, 0).where(zero, (others / nonzero).where(zeros == 0, 0))
    return [_spread(g, a, fn.arg) * grad]


def _erf_slope(a):
    """erf's derivative, 2 / sqrt(pi) * exp(-a ** 2)."""
    return (-(a * a)).exp() * (2 / math.sqrt(math.pi))


def _sigmoid_slope(a):
    """s * (1 - s) for s = sigmoid(a): the same nodes as the forward's sigmoid, so not computed again."""
    s = a.sigmoid()
    return s * (1 - s)


def _erfinv_slope(a):
    """sqrt(pi) / 2 * exp(erfinv(a) ** 2): erfinv's nodes are the forward's, not computed again."""
    from lazyfuse.elementary import _erfinv
    return (_erfinv(a).square() + math.log(math.sqrt(math.pi) / 2)).exp()


def _tie_share(wins, a, b, g):
    """g where this input wins, half of it where the two tie."""
    return g * (wins.cast(a.dtype) + (a == b).cast(a.dtype) * 0.5)


# one rule per input of each elementwise primitive, so an input that needs no
# gradient (a constant, data) costs no nodes, as with PyTorch's needs_input_grad
ELEMENTWISE_RULES = {
    Op.NEG: (lambda g, a: -g,),
    Op.EXP: (lambda g, a: g * a.exp(),),
    Op.EXP2: (lambda g, a: g * a.exp2() * math.log(2),),
    Op.LOG: (lambda g, a: g / a,),
    Op.LOG2: (lambda g, a: g / (a * math.log(2)),),
    Op.SIN: (lambda g, a: g * a.cos(),),
    Op.COS: (lambda g, a: -g * a.sin(),),
    Op.SQRT: (lambda g, a: g / (2 * a.sqrt()),),
    Op.RECIP: (lambda g, a: -g * a.reciprocal() * a.reciprocal(),),
    Op.TANH: (lambda g, a: g * (1 - a.tanh() * a.tanh()),),
    Op.ERF: (lambda g, a: g * _erf_slope(a),),
    Op.SIGMOID: (lambda g, a: g * _sigmoid_slope(a),),
    Op.ABS: (lambda g, a: g * _sign(a),),
    Op.ADD: (lambda g, a, b: g, lambda g, a, b: g),
    Op.SUB: (lambda g, a, b: g, lambda g, a, b: -g),
    Op.MUL: (lambda g, a, b: g * b, lambda g, a, b: g * a),
    Op.DIV: (lambda g, a, b: g / b, lambda g, a, b: -g * a / (b * b)),
    Op.POW: (lambda g, a, b: (g * b * a.pow(b - 1)).where(b != 0, 0), lambda g, a, b: _pow_exponent(a, b, g)),
    Op.MOD: (lambda g, a, b: g, lambda g, a, b: -g * a.floor_divide(b)),
    Op.MAX: (lambda g, a, b: _tie_share(a > b, a, b, g), lambda g, a, b: _tie_share(b > a, a, b, g)),
    Op.MIN: (lambda g, a, b: _tie_share(a < b, a, b, g), lambda g, a, b: _tie_share(b < a, a, b, g)),
    Op.WHERE: (None, lambda g, c, a, b: g.where(c, 0), lambda g, c, a, b: g.where(~c, 0)),
    # composites recorded as one op (Tensor._recorded_as_one), with PyTorch's formulas
    "relu": (lambda g, a: g.where(a > 0, 0),),
    "square": (lambda g, a: g * a * 2,),
    "atan": (lambda g, a: g / (1 + a * a),),
    "asin": (lambda g, a: g / ((1 - a) * (1 + a)).sqrt(),),
    "acos": (lambda g, a: -g / ((1 - a) * (1 + a)).sqrt(),),
    "asinh": (lambda g, a: g / (a * a + 1).sqrt(),),
    "acosh": (lambda g, a: g / ((a - 1) * (a + 1)).sqrt(),),
    "atanh": (lambda g, a: g / ((1 - a) * (1 + a)),),
    "erfinv": (lambda g, a: g * _erfinv_slope(a),),
    "erfc": (lambda g, a: -g * _erf_slope(a),),
}


def _parameters_read(rule) -> frozenset:
    """Positions, among the inputs, of the parameters a rule's code reads (after g)."""
    code = rule.__code__
    names = set()
    for instruction in dis.get_instructions(code):
        if instruction.opname.startswith("LOAD_FAST"):  # LOAD_FAST_LOAD_FAST (3.13) names two
            value = instruction.argval
            names.update(value if isinstance(value, tuple) else (value,))
    return frozenset(i for i, name in enumerate(code.co_varnames[1:code.co_argcount]) if name in names)


# per elementwise op, the inputs each input's rule reads: x * 3 keeps no need for x's
# value, so x may be modified in place before backward, as in PyTorch
_READS = {op: [_parameters_read(rule) if rule is not None else frozenset() for rule in rules]
          for op, rules in ELEMENTWISE_RULES.items()}

NO_GRADIENT = {Op.NOT, Op.LT, Op.LE, Op.EQ, Op.NE, Op.FLOORDIV}
# other rules that use only their inputs' shapes and dtypes, not values: modifying
# such an input in place afterwards is fine, as in PyTorch
# ("custom_function": its backward reads what its ctx saved, checked there)
VALUE_FREE = {Op.CAST, Op.SUM, "mean", "reshape", "permute", "expand", "pad", "shrink", "stride", "windows", "windows_sum",
              "to", "clone", "copy_slices", "custom_function"}


def inputs_read(op, needed: list[bool]) -> list[bool]:
    """Which inputs' saved values the rules for the `needed` inputs read."""
    if op in VALUE_FREE or op in NO_GRADIENT:
        return [False] * len(needed)
    if op in _READS:
        read = set().union(*[reads for reads, need in zip(_READS[op], needed) if need])
        return [i in read for i in range(len(needed))]
    if op == "matmul":  # each input's gradient reads the other input
        return [needed[1], needed[0]]
    if op == "pick":  # x's shape and the indices
        return [False, needed[0]]
    return [True] * len(needed)


def gradients(fn, g, saved, needed):
    """Gradients for each input of `fn` (None where an input gets none or, as
    `needed` says, needs none)."""
    op = fn.op
    if op in ELEMENTWISE_RULES:
        return [_sum_to(rule(g, *saved), a.shape) if rule is not None and need else None
                for rule, need, a in zip(ELEMENTWISE_RULES[op], needed, saved)]
    if op in NO_GRADIENT:
        return [None] * len(saved)
    if op == "custom_function":
        return fn.arg.gradients(g, needed)
    a = saved[0]
    if op is Op.CAST:
        return [g.cast(a.dtype) if a.dtype.is_floating_point else None]
    if op is Op.SUM:
        return [_spread(g, a, fn.arg)]
    if op == "mean":  # arg: the axes and 1 / their size
        axes, scale = fn.arg
        return [_spread(g, a, axes) * scale]
    if op is Op.PROD:
        return _prod(fn, g, a)
    if op in (Op.REDUCE_MAX, Op.REDUCE_MIN):
        return _reduce_max(fn, g, a, op is Op.REDUCE_MAX)
    if op == "matmul":
        return _matrix_product(g, *saved, needed)
    if op == "copy_slices":
        return _copy_slices(fn.arg, g, saved[1], needed)
    if op == "pick":
        return [_pick_gradient(g, a, saved[1], fn.arg), None]
    return [_movement_gradient(fn, g, a)]


def _sum_to(g, shape):
    """The gradient g of a value broadcast from `shape` (leading dims added, size-1
    dims repeated), summed back over the dims broadcasting made."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + d for d, s in enumerate(shape) if s != g.shape[lead + d])
    return g.sum(axes, keepdim=True).reshape(shape) if axes else g.reshape(shape)


def _matrix_product(g, a, b, needed):
    """a (M, K) @ b (K, N) is a product over (M, N, K) summed over K; each input's
    gradient is g times the other input over that same space, summed over the
    axis the input does not span (N for a, M for b)."""
    (M, K), N = a.shape, b.shape[1]
    g = g.reshape(M, N, 1)
    return [(g * b.T.reshape(1, N, K)).sum(1) if needed[0] else None,
            (g * a.reshape(M, 1, K)).sum(0).T if needed[1] else None]


def _pick_gradient(g, x, index, dim: int):
    """The gradient of x's elements along `dim` picked at `index` (selection.py's
    loads): each pick's gradient added back at its index (PyTorch's scatter-add), as a
    sum over the picks of their gradients where the index is the position along dim,
    a masked product (runtime/matmul.py) of positions by picks with picks by the other
    positions of x, which a tiled kernel computes."""
    from lazyfuse.creation import arange
    lead, trail, picks = x.shape[:dim], x.shape[dim + 1:], index.numel()
    per_pick = g.reshape(lead + (1, picks, math.prod(trail)))  # g is lead + index's shape + trail
    hit = arange(x.shape[dim], device=x.device).reshape(-1, 1) == index.reshape(1, picks)
    return per_pick.where(hit.reshape(hit.shape + (1,)), 0).sum(-2).reshape(x.shape)


def _windows_gradient_by_phase(g, lead, counts, sizes, kernel, stride):
    """windows_gradient for strided windows (no dilation), without spreading each
    kernel position's slice out by zeros: an input position o = s * o' + r (along each
    dim) receives, for each q, window o' - q's element at kernel position s * q + r. So
    the sum has one term per q (ceil(kernel / stride) per dim, 4 for a 4x4 kernel at
    stride 2 rather than 16), each g's kernel positions s * q .. s * q + s - 1 shifted
    by q windows, with the (o', r) dims merged into the input's."""
    k = len(kernel)
    terms = [-(-n // s) for n, s in zip(kernel, stride)]
    rows = [-(-n // s) for n, s in zip(sizes, stride)]  # o' along each dim
    keep = tuple((0, n) for n in lead + counts)
    g = g._pad(tuple((0, 0) for _ in keep) + tuple((0, t * s - n) for t, s, n in zip(terms, stride, kernel)))
    g = g.reshape(lead + counts + tuple(x for t, s in zip(terms, stride) for x in (t, s)))
    m = len(lead)
    interleave = tuple(range(m)) + tuple(d for j in range(k) for d in (m + j, m + k + j))
    total = None
    for at in itertools.product(*[range(t) for t in terms]):
        part = g._shrink(keep + tuple(r for q, s in zip(at, stride) for r in ((q, q + 1), (0, s))))
        part = part.reshape(lead + counts + tuple(stride))
        part = part._pad(tuple((0, 0) for _ in lead) + tuple((q, r - c - q) for q, r, c in zip(at, rows, counts))
                         + tuple((0, 0) for _ in stride))
        part = part.permute(interleave).reshape(lead + tuple(r * s for r, s in zip(rows, stride)))
        part = part._shrink(tuple((0, n) for n in lead) + tuple((0, n) for n in sizes))
        total = part if total is None else total + part
    return total


def _copy_slices(steps, g, value, needed):
    """A write of `value` through the view `steps` make: the written part of g goes
    to the value, the rest to the value the write replaced."""
    untouched = write_through(Node.make(Op.CONST, (), True, g.shape, dtypes.bool_, value.node.device), list(steps),
                              Node.make(Op.CONST, (), False, value.shape, dtypes.bool_, value.node.device))
    return [g.where(type(g)._wrap(untouched), 0) if needed[0] else None,
            g._replay(steps) if needed[1] else None]


def _movement_gradient(fn, g, a):
    name, arg = fn.op, fn.arg
    if name == "reshape":
        return g.reshape(a.shape)
    if name == "permute":
        return g.permute(tuple(sorted(range(len(arg)), key=lambda d: arg[d])))
    if name == "expand":
        return _sum_to(g, a.shape)
    if name == "pad":
        return g._shrink(tuple((before, before + s) for (before, _), s in zip(arg, a.shape)))
    if name in ("shrink", "stride"):
        return g._replay(embed_steps(g.shape, a.shape, name, arg))
    if name == "windows":
        return windows_gradient(g, a.shape, arg)
    if name == "windows_sum":  # its adjoint: the windows (counted up to a's, when the sum grew past them)
        view = g._move("windows", arg[1])
        return view if view.shape == a.shape else view._shrink(tuple((0, n) for n in a.shape))
    if name == "to":
        return g.to(a.device)
    if name == "clone":
        return g
    raise AssertionError(f"no derivative rule for {name}")


def windows_gradient(g, shape: tuple[int, ...], spec):
    """The gradient of sliding windows (View.windows): each window element's gradient
    added back where it was read (also a transposed convolution's last step). For
    each position i in the kernel, g's slice at i (one value per window) is spread
    out by the stride and shifted by i * dilation into the input's shape; the slices'
    sum is one fused kernel of masked reads. Without dilation, strided windows take
    the phase form below."""
    kernel, stride, dilation = spec
    lead, k = g.shape[:g.ndim - 2 * len(kernel)], len(kernel)
    counts, sizes = g.shape[len(lead):len(lead) + k], shape[len(lead):]
    # along a dim of one window any stride reads the same, and at the kernel's size the
    # phase form has one term (DCGAN's first layer, 1x1 -> 4x4: one view, not 16 pieces)
    stride = tuple(n if c == 1 else s for n, s, c in zip(kernel, stride, counts))
    if any(s > 1 for s in stride) and all(d == 1 for d in dilation):
        return _windows_gradient_by_phase(g, lead, counts, sizes, kernel, stride)
    spread = tuple((c - 1) * s + 1 for c, s in zip(counts, stride))  # a window per stride, from the first
    total = None
    for at in itertools.product(*[range(w) for w in kernel]):
        steps = [("shrink", tuple((0, n) for n in lead + counts) + tuple((i, i + 1) for i in at)),
                 ("reshape", lead + counts)]
        steps += embed_steps(lead + counts, lead + spread, "stride", (1,) * len(lead) + tuple(stride))
        steps.append(("pad", tuple((0, 0) for _ in lead) + tuple(
            (i * d, n - i * d - f) for i, d, n, f in zip(at, dilation, sizes, spread))))
        part = g._replay(steps)
        total = part if total is None else total + part
    return total
