"""The Tensor front: PyTorch's Tensor API over lazy graph nodes.

Every method records nodes (checking shapes, dtypes and devices here, so
errors point at the user's line); nothing runs until a value is read.
Composite ops (softmax, var, matmul, ...) are built from primitive ones, so
autograd needs derivative rules for primitives only.
"""
from __future__ import annotations

import math
import weakref
from typing import Optional, Union

import numpy as np

from lazyfuse.runtime import dtypes, movement
from lazyfuse.runtime.devices import canonical, device as Device
from lazyfuse.runtime.dtypes import DType
from lazyfuse.runtime.graph import ELEMENTWISE, Node, Op
from lazyfuse.runtime.realize import defer, read, realize, upload
from lazyfuse.runtime.reference import fold_constants
from lazyfuse.runtime.writeback import Step, replay, write_through

from . import _format
from lazyfuse.autograd.function import check_inplace, record, shown_as, write_history, written_into
from lazyfuse.autograd.grad_mode import enable_grad, grad_enabled

Scalar = Union[int, float, bool]


def _normalize_dim(dim: int, ndim: int) -> int:
    lo, hi = (-ndim, ndim - 1) if ndim > 0 else (-1, 0)
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(f"dim must be an int, got {type(dim).__name__}")
    if not lo <= dim <= hi:
        raise IndexError(f"Dimension out of range (expected to be in range of [{lo}, {hi}], but got {dim})")
    return int(dim) % max(ndim, 1)


def _dims(dim, ndim: int) -> tuple[int, ...]:
    if dim is None:
        return tuple(range(ndim))
    dims = tuple(_normalize_dim(d, ndim) for d in (dim if isinstance(dim, (tuple, list)) else (dim,)))
    if len(set(dims)) != len(dims):
        raise RuntimeError(f"dim {dim} appears multiple times in the list of dims")
    return dims


def broadcast_shapes(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    ndim = max(len(s) for s in shapes)
    padded = [(1,) * (ndim - len(s)) + tuple(s) for s in shapes]
    out = []
    for d in range(ndim):
        sizes = {p[d] for p in padded} - {1}
        if len(sizes) > 1:
            raise RuntimeError(f"shapes {' and '.join(str(tuple(s)) for s in shapes)} cannot be broadcast together: "
                               f"sizes {' vs '.join(str(p[d]) for p in padded)} at dimension {d}")
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


def _shape_arg(shape) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    if any(not isinstance(s, (int, np.integer)) or isinstance(s, bool) for s in shape):
        raise TypeError(f"shape must be ints, got {shape}")
    return tuple(int(s) for s in shape)


class Size(tuple):
    """A tensor's shape: a tuple of ints that prints as PyTorch's torch.Size does."""

    def __repr__(self) -> str:
        return f"lazyfuse.Size({list(self)})"

    def numel(self) -> int:
        return math.prod(self)


# one Size per shape seen, as a tensor's shape is read by nearly every op
_sizes: dict[tuple, Size] = {}
MAX_SIZES = 4096


def _size(shape: tuple[int, ...]) -> Size:
    size = _sizes.get(shape)
    if size is None:
        if len(_sizes) >= MAX_SIZES:
            _sizes.clear()
        size = _sizes[shape] = Size(shape)
    return size


class Tensor:
    __slots__ = ("_node", "_base", "_steps", "_seen_version", "_version", "requires_grad", "grad", "grad_fn",
                 "_grad_accumulator", "_detached", "_hooks", "__weakref__")
    __array_priority__ = 1000  # numpy defers to our operators

    def __init__(self, data, dtype=None, device=None, requires_grad: bool = False):
        from .creation import tensor
        t = tensor(data, dtype=dtype, device=device, requires_grad=requires_grad)
        self._init(t.node, requires_grad=requires_grad)

    def _init(self, node: Node, requires_grad: bool = False, base: Optional["Tensor"] = None,
              steps: tuple[Step, ...] = ()) -> "Tensor":
        self._node = node
        self._base, self._steps = base, steps
        self._seen_version = base._version if base is not None else 0
        self._version = 0
        self.requires_grad, self.grad, self.grad_fn = requires_grad, None, None
        self._grad_accumulator = None
        self._detached = False  # a view made by detach() (or of one): writes through it are outside autograd
        self._hooks = None  # a leaf's gradient hooks (a non-leaf's are on its grad_fn)
        return self

    @staticmethod
    def _wrap(node: Node, **kw) -> "Tensor":
        return Tensor.__new__(Tensor)._init(node, **kw)

    @property
    def node(self) -> Node:
        """The current lazy value, re-read from the viewed tensor if it was written since."""
        base = self._base
        if base is not None and self._seen_version != base._version:
            self._node = replay(base.node, self._steps)
            self._seen_version = base._version
            if base.requires_grad and not self._detached:
                self._take_base_history()
        return self._node

    def _take_base_history(self) -> None:
        """After its base was written in place, a view's history is the base's new one
        seen through the view (PyTorch regenerates a view's grad_fn likewise)."""
        with enable_grad():
            fresh = self._base._replay(self._steps)
        self.requires_grad, self.grad_fn = fresh.requires_grad, fresh.grad_fn

    # ------------------------------------------------------------------ attributes
    @property
    def shape(self) -> Size:
        return _size(self._node.shape)

    def size(self, dim: Optional[int] = None):
        return self.shape if dim is None else self.shape[_normalize_dim(dim, self.ndim)]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def dim(self) -> int:
        return self.ndim

    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def dtype(self) -> DType:
        return self._node.dtype

    @property
    def device(self) -> Device:
        return Device(self._node.device)

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    def is_floating_point(self) -> bool:
        return self.dtype.is_floating_point

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    # ------------------------------------------------------------------ reading values
    def realize(self) -> "Tensor":
        realize([self.node])
        return self

    def numpy(self) -> np.ndarray:
        if self.requires_grad and grad_enabled():
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
        return read(self.node)

    def _value(self) -> np.ndarray:
        return read(self.node)

    def item(self):
        if self.numel() != 1:
            raise RuntimeError(f"a Tensor with {self.numel()} elements cannot be converted to Scalar")
        return self._value().reshape(()).item()

    def tolist(self):
        return self._value().tolist()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.dtype.kind == "float":
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __bool__(self) -> bool:
        if self.numel() != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return bool(self.item())

    def __format__(self, spec: str) -> str:
        return format(self.item(), spec) if self.numel() == 1 and spec else str(self)

    def __repr__(self) -> str:
        return _format.tensor_repr(self)

    __str__ = __repr__

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def __hash__(self) -> int:
        return id(self)

    # ------------------------------------------------------------------ recording helpers
    def _operand(self, other, dtype: Optional[DType] = None) -> "Tensor":
        if isinstance(other, Tensor):
            if other.node.device != self.node.device:
                raise RuntimeError(f"Expected all tensors to be on the same device, but found at least two devices, "
                                   f"{self.device} and {other.device}!")
            return other
        if isinstance(other, (bool, int, float, np.number)):
            value = other.item() if isinstance(other, np.number) else other
            dtype = dtype or dtypes.scalar_dtype(value)
            return Tensor._wrap(Node.make(Op.CONST, (), value, (), dtype, self.node.device))
        if isinstance(other, (list, tuple, np.ndarray)):
            from .creation import tensor
            return tensor(other, device=self.device)
        raise TypeError(f"unsupported operand type: {type(other).__name__}; expected a tensor or a number")

    def _prim(self, op: Op, *others: "Tensor", arg=None, shape=None, dtype: Optional[DType] = None) -> "Tensor":
        """Record one primitive op on self and others (already cast). Given `shape`, the
        inputs of other shapes are broadcast to it in the graph, and autograd sums their
        gradients back, as PyTorch's AddBackward0 does (recording the broadcast as an op
        of its own took a bias add twice as long)."""
        srcs = (self,) + others
        nodes = tuple([t.node for t in srcs])  # (a list, not a generator: this is the hottest line in recording)
        mine = nodes[0]
        if shape is None:
            shape = mine.shape
        else:
            nodes = tuple([n if n.shape == shape else movement.broadcast(n, shape) for n in nodes])
        if op in ELEMENTWISE and all([n.op is Op.CONST for n in nodes]) and not any([t.requires_grad for t in srcs]):
            return Tensor._wrap(fold_constants(op, arg, list(nodes), shape, dtype or mine.dtype))
        node = Node.make(op, nodes, arg, shape, dtype or mine.dtype, mine.device)
        return record(Tensor._wrap(node), op, arg, srcs)

    def _replay(self, steps: list[Step]) -> "Tensor":
        """The view that movement `steps` make of self, each recorded."""
        out = self
        for name, arg in steps:
            out = out._move(name, arg)
        return out

    def _move(self, name: str, arg: tuple) -> "Tensor":
        """Record a movement op: a view sharing self's data, as in PyTorch."""
        node = getattr(movement, name)(self.node, arg)
        base = self._base if self._base is not None else self
        out = Tensor._wrap(node, base=base, steps=self._steps + ((name, arg),))
        out._detached = self._detached
        return record(out, name, arg, (self,))

    @staticmethod
    def _number(value, shape: tuple[int, ...], dtype: DType, device: str) -> "Tensor":
        """value, converted to dtype, at every index of shape: one CONST node."""
        return Tensor._wrap(Node.make(Op.CONST, (), dtype.np_dtype.type(value).item(), shape, dtype, device))

    def cast(self, dtype: DType) -> "Tensor":
        dtype = dtypes.as_dtype(dtype)
        if dtype is self.dtype:
            return self
        node = self.node
        if node.op is Op.CONST and not self.requires_grad:  # fold: a number needs no kernel to change type
            return Tensor._number(node.arg, node.shape, dtype, node.device)
        return self._prim(Op.CAST, dtype=dtype)

    def _broadcast_to(self, shape: tuple[int, ...]) -> "Tensor":
        return self if self.shape == shape else self._expand_to(shape)

    def _expand_to(self, target: tuple[int, ...]) -> "Tensor":
        """A view spreading self over `target` (leading dims added, size-1 dims repeated),
        recorded as one op: a bias add spent a third of its time on two."""
        padded = (1,) * (len(target) - self.ndim) + self.shape
        steps = ([("reshape", padded)] if padded != self.shape else []) + [("expand", target)]
        base = self._base if self._base is not None else self
        out = Tensor._wrap(replay(self.node, steps), base=base, steps=self._steps + tuple(steps))
        out._detached = self._detached
        return record(out, "expand", target, (self,))

    def _binary(self, op: Op, other, reverse: bool = False, out_dtype: Optional[DType] = None,
                compute_dtype: Optional[DType] = None) -> "Tensor":
        if compute_dtype is None:  # fast paths for the commonest operands, same result as below
            mine = self.node
            if type(other) is Tensor:  # same dtype and device: no promotion, at most a broadcast
                theirs = other.node
                if mine.dtype is theirs.dtype and mine.device == theirs.device:
                    a, b = (other, self) if reverse else (self, other)
                    shape = mine.shape if mine.shape == theirs.shape else broadcast_shapes(mine.shape, theirs.shape)
                    return a._prim(op, b, shape=shape, dtype=out_dtype or mine.dtype)
            elif type(other) in (int, float) and mine.dtype.is_floating_point:  # a number, in the tensor's dtype
                number = Tensor._number(other, mine.shape, mine.dtype, mine.device)
                a, b = (number, self) if reverse else (self, number)
                return a._prim(op, b, dtype=out_dtype or mine.dtype)
        a, b = self, self._operand(other)
        if reverse:
            a, b = b, a
        dtype = compute_dtype or promote(a, b, other_is_scalar=not isinstance(other, Tensor), scalar=b if not reverse else a)
        shape = broadcast_shapes(a.shape, b.shape)
        a, b = a._conform(dtype, shape), b._conform(dtype, shape)
        return a._prim(op, b, shape=shape, dtype=out_dtype or dtype)

    def _conform(self, dtype: DType, shape: tuple[int, ...]) -> "Tensor":
        """This tensor cast to dtype, for an op of the given shape (which _prim broadcasts
        it to); a number is made of that dtype and shape in one node."""
        node = self.node
        if node.op is Op.CONST and not self.requires_grad:
            return Tensor._number(node.arg, shape, dtype, node.device)
        return self.cast(dtype)

    def _float(self) -> "Tensor":
        """Self, or an integer or bool tensor cast to the default float dtype (as PyTorch's exp takes ints)."""
        return self if self.dtype.is_floating_point else self.cast(dtypes.default_float)

    def _float_unary(self, op: Op) -> "Tensor":
        return self._float()._prim(op)

    # ------------------------------------------------------------------ arithmetic
    def add(self, other, alpha: Scalar = 1) -> "Tensor":
        other = other if alpha == 1 else self._operand(other) * alpha
        return self._binary(Op.ADD, other)

    def sub(self, other, alpha: Scalar = 1) -> "Tensor":
        other = other if alpha == 1 else self._operand(other) * alpha
        self._check_bool_subtraction(other)
        return self._binary(Op.SUB, other)

    def _check_bool_subtraction(self, other) -> None:
        """PyTorch refuses `-` with a bool operand, a tensor or a Python bool."""
        mine = self._node.dtype is dtypes.bool_
        theirs = other.dtype is dtypes.bool_ if isinstance(other, Tensor) else isinstance(other, bool)
        if mine and theirs:
            raise RuntimeError("Subtraction, the `-` operator, with two bool tensors is not supported. "
                               "Use the `^` or `logical_xor()` operator instead.")
        if mine or theirs:
            raise RuntimeError("Subtraction, the `-` operator, with a bool tensor is not supported. "
                               "If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.")

    def mul(self, other) -> "Tensor":
        return self._binary(Op.MUL, other)

    def div(self, other, rounding_mode: Optional[str] = None) -> "Tensor":
        if rounding_mode == "floor":
            return self.floor_divide(other)
        if rounding_mode is not None:
            raise ValueError(f"div expected rounding_mode to be one of None or 'floor', got {rounding_mode!r}")
        return self._true_div(other)

    def _true_div(self, other, reverse: bool = False) -> "Tensor":
        operand = self._operand(other)
        a, b = (operand, self) if reverse else (self, operand)
        dtype = promote(a, b, other_is_scalar=not isinstance(other, Tensor), scalar=operand)
        if not dtype.is_floating_point:
            dtype = dtypes.default_float
        return a._binary(Op.DIV, b, compute_dtype=dtype)

    def floor_divide(self, other) -> "Tensor":
        return self._binary(Op.FLOORDIV, other)

    def remainder(self, other) -> "Tensor":
        return self._binary(Op.MOD, other)

    def pow(self, exponent) -> "Tensor":
        if type(exponent) is int and exponent < 0 and not self.dtype.is_floating_point:
            raise RuntimeError("Integers to negative integer powers are not allowed.")
        if type(exponent) in (int, float) and exponent == 2 and self.dtype is not dtypes.bool_:
            return shown_as(self._recorded_as_one("square", lambda x: x * x), "PowBackward0")  # exact, unlike pow()
        return shown_as(self._binary(Op.POW, exponent), "PowBackward1" if isinstance(exponent, Tensor) else "PowBackward0")

    def maximum(self, other) -> "Tensor":
        return shown_as(self._binary(Op.MAX, other), "MaximumBackward0")

    def minimum(self, other) -> "Tensor":
        return shown_as(self._binary(Op.MIN, other), "MinimumBackward0")

    __add__ = add
    __sub__ = sub
    __mul__ = mul
    __truediv__ = div
    __floordiv__ = floor_divide
    __mod__ = remainder
    __pow__ = pow

    def __radd__(self, other):
        return self._binary(Op.ADD, other, reverse=True)

    def __rsub__(self, other):
        self._check_bool_subtraction(other)
        return self._binary(Op.SUB, other, reverse=True)

    def __rmul__(self, other):
        return self._binary(Op.MUL, other, reverse=True)

    def __rtruediv__(self, other):
        return self._true_div(other, reverse=True)

    def __rfloordiv__(self, other):
        return self._binary(Op.FLOORDIV, other, reverse=True)

    def __rmod__(self, other):
        return self._binary(Op.MOD, other, reverse=True)

    def __rpow__(self, other):
        return self._binary(Op.POW, other, reverse=True)

    def __neg__(self) -> "Tensor":
        if self.dtype is dtypes.bool_:
            raise RuntimeError("Negation, the `-` operator, on a bool tensor is not supported. "
                               "If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.")
        return self._prim(Op.NEG)

    neg = __neg__

    def __pos__(self) -> "Tensor":
        return self

    def abs(self) -> "Tensor":
        return self if self.dtype is dtypes.bool_ else self._prim(Op.ABS)

    __abs__ = abs

    def __matmul__(self, other) -> "Tensor":
        return self.matmul(other)

    def __rmatmul__(self, other) -> "Tensor":
        return self._operand(other).matmul(self)

    # comparisons and logic
    def _compare(self, op: Op, other, reverse: bool = False) -> "Tensor":
        return self._binary(op, other, reverse=reverse, out_dtype=dtypes.bool_)

    def __lt__(self, other):
        return self._compare(Op.LT, other)

    def __le__(self, other):
        return self._compare(Op.LE, other)

    def __gt__(self, other):
        return self._compare(Op.LT, other, reverse=True)

    def __ge__(self, other):
        return self._compare(Op.LE, other, reverse=True)

    def __eq__(self, other):  # type: ignore[override]
        return self._compare(Op.EQ, other)

    def __ne__(self, other):  # type: ignore[override]
        return self._compare(Op.NE, other)

    lt, le, gt, ge, eq, ne = __lt__, __le__, __gt__, __ge__, __eq__, __ne__

    def logical_not(self) -> "Tensor":
        return self.cast(dtypes.bool_)._prim(Op.NOT)

    def __invert__(self) -> "Tensor":
        if self.dtype is not dtypes.bool_:
            raise TypeError("~ is supported on bool tensors only here; use logical_not() for other dtypes")
        return self.logical_not()

    def logical_and(self, other) -> "Tensor":
        return self.cast(dtypes.bool_)._binary(Op.MIN, self._operand(other).cast(dtypes.bool_))

    def logical_or(self, other) -> "Tensor":
        return self.cast(dtypes.bool_)._binary(Op.MAX, self._operand(other).cast(dtypes.bool_))

    def __and__(self, other):
        return self._bool_only("&").logical_and(other)

    def __or__(self, other):
        return self._bool_only("|").logical_or(other)

    def __xor__(self, other):
        return self._bool_only("^")._compare(Op.NE, self._operand(other).cast(dtypes.bool_))

    def _bool_only(self, symbol: str) -> "Tensor":
        if self.dtype is not dtypes.bool_:
            raise TypeError(f"{symbol} is supported on bool tensors only")
        return self

    def where(self, condition, other) -> "Tensor":
        from .functional import where
        return where(condition, self, other)

    # ------------------------------------------------------------------ unary math
    def exp(self):
        return self._float_unary(Op.EXP)

    def exp2(self):
        return self._float_unary(Op.EXP2)

    def log(self):
        return self._float_unary(Op.LOG)

    def log2(self):
        return self._float_unary(Op.LOG2)

    def sin(self):
        return self._float_unary(Op.SIN)

    def cos(self):
        return self._float_unary(Op.COS)

    def sqrt(self):
        return self._float_unary(Op.SQRT)

    def tanh(self):
        return self._float_unary(Op.TANH)

    def reciprocal(self):
        return self._float_unary(Op.RECIP)

    def rsqrt(self):
        return self.sqrt().reciprocal()

    def sigmoid(self):
        return self._float_unary(Op.SIGMOID)

    def relu(self):
        from .functional import where
        # NaN stays NaN, and the gradient at 0 is 0 (the rule), as in PyTorch
        return self._recorded_as_one("relu", lambda x: where(x <= 0, 0, x))

    def _recorded_as_one(self, name: str, forward, arg=None) -> "Tensor":
        """forward(self) computed by ops that record nothing, recorded for autograd as
        the one op `name` (its rule, in autograd/rules.py, reads self and `arg`): a
        composite of several primitives then records one GradFn, not one per primitive
        (atan's polynomial), and its backward is the rule's few nodes."""
        return record(forward(Tensor._wrap(self.node)), name, arg, (self,))

    def square(self):
        return self.pow(2)

    def clamp(self, min=None, max=None) -> "Tensor":
        if min is None and max is None:
            raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
        from .functional import where
        out = self  # a NaN compares false with both bounds, and stays NaN, as in PyTorch
        if min is not None:
            out = where(out < min, min, out)
        if max is not None:
            out = where(out > max, max, out)
        return shown_as(out, "ClampBackward1")

    clip = clamp

    # ------------------------------------------------------------------ casts and copies
    def to(self, *args, **kwargs) -> "Tensor":
        target_device, target_dtype = kwargs.pop("device", None), kwargs.pop("dtype", None)
        kwargs.pop("non_blocking", None)
        if kwargs:
            raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
        for a in args:
            if isinstance(a, (Device, str)) and not (isinstance(a, str) and a in dtypes.BY_NAME):
                target_device = a
            elif isinstance(a, Tensor):
                target_device, target_dtype = a.device, a.dtype
            else:
                target_dtype = a
        out = self
        if target_dtype is not None:
            out = out.cast(dtypes.as_dtype(target_dtype))
        if target_device is not None and canonical(target_device) != self.node.device:
            name = canonical(target_device)
            moved = Tensor._wrap(upload(out._value(), name, out.dtype))
            out = record(moved, "to", self.node.device, (out,))
        return out

    def cpu(self) -> "Tensor":
        return self.to("cpu")

    def cuda(self, device=None) -> "Tensor":
        return self.to("cuda" if device is None else Device("cuda", device) if isinstance(device, int) else device)

    def float(self):
        return self.cast(dtypes.float32)

    def double(self):
        return self.cast(dtypes.float64)

    def half(self):
        return self.cast(dtypes.float16)

    def long(self):
        return self.cast(dtypes.int64)

    def int(self):
        return self.cast(dtypes.int32)

    def bool(self):
        return self.cast(dtypes.bool_)

    def type(self, dtype=None):
        return str(self.dtype) if dtype is None else self.cast(dtypes.as_dtype(dtype))

    def clone(self) -> "Tensor":
        # values are immutable graph nodes, so a clone needs no copy: in-place ops
        # on either tensor replace only that tensor's node
        return record(Tensor._wrap(self.node), "clone", None, (self,))

    def contiguous(self) -> "Tensor":
        """Kernels read views in place, so no copy is made; but like PyTorch's copy of a
        view, the result no longer shares data with the viewed tensor."""
        return self if self._base is None else self.clone()

    def detach(self) -> "Tensor":
        """A tensor sharing this one's data (writes go through both ways), outside autograd:
        an in-place op on it is allowed and records no history, as in PyTorch (the
        tensor it came from sees the new values; a backward that saved them refuses)."""
        base = self._base if self._base is not None else self
        out = Tensor._wrap(self.node, base=base, steps=self._steps)
        out._detached = True
        return out

    @property
    def data(self) -> "Tensor":
        """PyTorch's `.data`: this tensor's values, detached (see detach)."""
        return self.detach()

    @data.setter
    def data(self, value: "Tensor") -> None:
        if self._base is not None:
            raise RuntimeError("setting .data of a view is not supported; set it on the tensor it views")
        self._node = value.node
        self._version += 1

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if requires_grad and not self.dtype.is_floating_point:
            raise RuntimeError("only Tensors of floating point dtype can require gradients")
        if not self.is_leaf:
            raise RuntimeError("you can only change requires_grad flags of leaf variables.")
        self.requires_grad = requires_grad
        return self

    # ------------------------------------------------------------------ movement
    def reshape(self, *shape) -> "Tensor":
        shape = _shape_arg(shape)
        if shape.count(-1) > 1:
            raise RuntimeError("only one dimension can be inferred")
        if -1 in shape:
            known = math.prod(s for s in shape if s != -1)
            if known == 0 or self.numel() % known:
                raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {self.numel()}")
            shape = tuple(self.numel() // known if s == -1 else s for s in shape)
        if any(s < 0 for s in shape) or math.prod(shape) != self.numel():
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {self.numel()}")
        return self if shape == self.shape else self._move("reshape", shape)

    def view(self, *shape) -> "Tensor":
        if len(shape) == 1 and isinstance(shape[0], (DType, str)):
            raise TypeError("view(dtype) is not supported; use to(dtype)")
        out = self.reshape(*shape)
        if out is not self and not self._reshapes_in_place(out.shape):
            raise RuntimeError("view size is not compatible with input tensor's size and stride (at least one "
                               "dimension spans across two contiguous subspaces). Use .reshape(...) instead.")
        return out

    def _reshapes_in_place(self, shape: tuple[int, ...]) -> bool:
        """Whether reshaping to `shape` views this tensor's data (one strided view), not a copy."""
        node = self.node
        return node.op is not Op.VIEW or node.arg.reshape(shape) is not None

    def view_as(self, other: "Tensor") -> "Tensor":
        return self.view(other.shape)

    def reshape_as(self, other: "Tensor") -> "Tensor":
        return self.reshape(other.shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> "Tensor":
        if self.ndim == 0:
            return self.reshape(1)
        s, e = _normalize_dim(start_dim, self.ndim), _normalize_dim(end_dim, self.ndim)
        if s > e:
            raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
        return self.reshape(self.shape[:s] + (math.prod(self.shape[s:e + 1]),) + self.shape[e + 1:])

    def permute(self, *dims) -> "Tensor":
        dims = _shape_arg(dims) if dims and not isinstance(dims[0], (tuple, list)) else tuple(dims[0])
        if len(dims) != self.ndim:
            raise RuntimeError(f"permute(sparse_coo): number of dimensions in the tensor input does not match the "
                               f"length of the desired ordering of dimensions i.e. input.dim() = {self.ndim} is not "
                               f"equal to len(dims) = {len(dims)}")
        order = _dims(dims, self.ndim)
        return self._move("permute", order)

    def transpose(self, dim0: int, dim1: int) -> "Tensor":
        order = list(range(self.ndim))
        d0, d1 = _normalize_dim(dim0, self.ndim), _normalize_dim(dim1, self.ndim)
        order[d0], order[d1] = order[d1], order[d0]
        return shown_as(self.permute(tuple(order)), "TransposeBackward0", self) if self.ndim else self

    swapaxes = transpose

    def t(self) -> "Tensor":
        if self.ndim > 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {self.ndim}D")
        return self.transpose(0, 1) if self.ndim == 2 else self

    @property
    def T(self) -> "Tensor":
        return self.permute(tuple(reversed(range(self.ndim)))) if self.ndim >= 2 else self

    @property
    def mT(self) -> "Tensor":
        return self.transpose(-2, -1)

    def expand(self, *sizes) -> "Tensor":
        sizes = _shape_arg(sizes)
        if len(sizes) < self.ndim:
            raise RuntimeError(f"expand: the number of sizes provided ({len(sizes)}) must be greater or equal to "
                               f"the number of dimensions in the tensor ({self.ndim})")
        shape = (1,) * (len(sizes) - self.ndim) + self.shape
        target = tuple(s if n == -1 else n for s, n in zip(shape, sizes))
        for d, (s, n) in enumerate(zip(shape, target)):
            if s != n and s != 1:
                raise RuntimeError(f"The expanded size of the tensor ({n}) must match the existing size ({s}) at "
                                   f"non-singleton dimension {d}.  Target sizes: {list(sizes)}.  Tensor sizes: {list(self.shape)}")
        return self if target == self.shape else self._expand_to(target)

    def expand_as(self, other: "Tensor") -> "Tensor":
        return self.expand(other.shape)

    def unsqueeze(self, dim: int) -> "Tensor":
        d = _normalize_dim(dim, self.ndim + 1)
        return shown_as(self.reshape(self.shape[:d] + (1,) + self.shape[d:]), "UnsqueezeBackward0")

    def squeeze(self, dim=None) -> "Tensor":
        dims = _dims(dim, self.ndim) if self.ndim else ()
        out = self.reshape(tuple(s for d, s in enumerate(self.shape) if not (d in dims and s == 1)))
        return shown_as(out, "SqueezeBackward0" if dim is None else "SqueezeBackward2" if isinstance(dim, (tuple, list))
                        else "SqueezeBackward1", self)

    def _shrink(self, ranges) -> "Tensor":
        ranges = tuple(ranges)
        if all(r == (0, s) for r, s in zip(ranges, self.shape)):
            return self
        return self._move("shrink", ranges)

    def _pad(self, pads) -> "Tensor":
        pads = tuple(pads)
        return self if all(p == (0, 0) for p in pads) else self._move("pad", pads)

    def narrow(self, dim: int, start: int, length: int) -> "Tensor":
        d = _normalize_dim(dim, self.ndim)
        return self._shrink((start, start + length) if i == d else (0, s) for i, s in enumerate(self.shape))

    def __getitem__(self, index) -> "Tensor":
        from .indexing import getitem
        return getitem(self, index)

    def __setitem__(self, index, value) -> None:
        from .indexing import setitem
        setitem(self, index, value)

    def split(self, split_size, dim: int = 0):
        d = _normalize_dim(dim, self.ndim)
        sizes = ([split_size] * -(-self.shape[d] // split_size) if isinstance(split_size, int) else list(split_size))
        shown = "SplitBackward0" if isinstance(split_size, int) else "SplitWithSizesBackward0"
        out, start = [], 0
        for s in sizes:
            length = min(s, self.shape[d] - start)
            out.append(shown_as(self.narrow(d, start, length), shown, self))
            start += length
        return tuple(out)

    def chunk(self, chunks: int, dim: int = 0):
        d = _normalize_dim(dim, self.ndim)
        return self.split(-(-self.shape[d] // chunks), d)

    # ------------------------------------------------------------------ reductions
    def _reduce(self, op: Op, dim, keepdim: bool) -> "Tensor":
        """One reduction op; in the graph it keeps the reduced axes as size 1, and
        without keepdim the result reads it through a reshape (one recorded op)."""
        axes = _dims(dim, self.ndim)
        if not axes:  # a 0-d tensor's: a new tensor all the same, as in-place writes to it must not reach self
            return self.clone()
        kept = tuple(1 if d in axes else s for d, s in enumerate(self.shape))
        node = Node.make(op, (self.node,), axes, kept, self.dtype, self.node.device)
        if not keepdim:
            node = movement.reshape(node, tuple(s for d, s in enumerate(self.shape) if d not in axes))
        return record(Tensor._wrap(node), op, axes, (self,))

    def sum(self, dim=None, keepdim: bool = False, dtype=None) -> "Tensor":
        x = self.cast(dtypes.as_dtype(dtype)) if dtype is not None else self
        if not x.dtype.is_floating_point:
            x = x.cast(dtypes.int64)  # integer sums are int64, as in PyTorch
        return shown_as(x._reduce(Op.SUM, dim, keepdim), "SumBackward0" if dim is None else "SumBackward1")

    def prod(self, dim=None, keepdim: bool = False, dtype=None) -> "Tensor":
        x = self.cast(dtypes.as_dtype(dtype)) if dtype is not None else self
        if not x.dtype.is_floating_point:
            x = x.cast(dtypes.int64)
        return x._reduce(Op.PROD, dim, keepdim)

    def _count(self, dim) -> int:
        return math.prod(self.shape[d] for d in _dims(dim, self.ndim))

    def _need_float(self, name: str) -> None:
        if not self.dtype.is_floating_point:
            raise RuntimeError(f"{name}(): could not infer output dtype. Input dtype must be either a floating "
                               f"point or complex dtype. Got: {self.dtype.name.capitalize()}")

    def mean(self, dim=None, keepdim: bool = False, dtype=None) -> "Tensor":
        x = self.cast(dtypes.as_dtype(dtype)) if dtype is not None else self
        x._need_float("mean")
        n = x._count(dim)
        scale = 1.0 / n if n else math.nan
        if not x.shape:  # nothing to reduce: a new tensor, as sum() gives
            return shown_as(x.sum() * scale, "MeanBackward0")
        mean = x._recorded_as_one("mean", lambda t: t.sum(dim, keepdim) * scale, (_dims(dim, x.ndim), scale))
        return shown_as(mean, "MeanBackward0" if dim is None else "MeanBackward1")

    def var(self, dim=None, unbiased: Optional[bool] = None, keepdim: bool = False, *, correction=None) -> "Tensor":
        self._need_float("var")
        if correction is None:
            correction = 0 if unbiased is False else 1
        n = self._count(dim)
        centered = self - self.mean(dim, keepdim=True)
        denominator = max(n - correction, 0)
        return shown_as((centered * centered).sum(dim, keepdim) * (1.0 / denominator if denominator else math.nan),
                        "VarBackward0")

    def std(self, dim=None, unbiased: Optional[bool] = None, keepdim: bool = False, *, correction=None) -> "Tensor":
        var = self.var(dim, unbiased, keepdim, correction=correction)
        # where the std is 0 its gradient is 0, as in PyTorch (sqrt's would be 0 / 0)
        nonzero = var != 0
        return shown_as(var.where(nonzero, 1).sqrt().where(nonzero, 0), "StdBackward0")

    def _check_nonempty(self, name: str, dim) -> None:
        if self._count(dim) == 0 or (dim is None and self.numel() == 0):
            raise IndexError(f"{name}(): Expected reduction dim to be specified for input.numel() == 0. "
                             f"Specify the reduction dim with the 'dim' argument.")

    def amax(self, dim=(), keepdim: bool = False) -> "Tensor":
        dim = None if dim == () else dim
        self._check_nonempty("amax", dim)
        return shown_as(self._reduce(Op.REDUCE_MAX, dim, keepdim), "AmaxBackward0")

    def amin(self, dim=(), keepdim: bool = False) -> "Tensor":
        dim = None if dim == () else dim
        self._check_nonempty("amin", dim)
        return shown_as(self._reduce(Op.REDUCE_MIN, dim, keepdim), "AminBackward0")

    def max(self, dim=None, keepdim: bool = False):
        from .functional import max_with_indices
        if isinstance(dim, Tensor):
            return self.maximum(dim)
        return shown_as(self.amax(), "MaxBackward1") if dim is None else max_with_indices(self, dim, keepdim, largest=True)

    def min(self, dim=None, keepdim: bool = False):
        from .functional import max_with_indices
        if isinstance(dim, Tensor):
            return self.minimum(dim)
        return shown_as(self.amin(), "MinBackward1") if dim is None else max_with_indices(self, dim, keepdim, largest=False)

    def argmax(self, dim=None, keepdim: bool = False) -> "Tensor":
        from .functional import arg_extreme
        return arg_extreme(self, dim, keepdim, largest=True)

    def argmin(self, dim=None, keepdim: bool = False) -> "Tensor":
        from .functional import arg_extreme
        return arg_extreme(self, dim, keepdim, largest=False)

    def logsumexp(self, dim, keepdim: bool = False) -> "Tensor":
        x = self if self.dtype.is_floating_point else self.cast(dtypes.default_float)
        m = x.amax(dim, keepdim=True).detach()
        m = m.where(m.abs() != math.inf, 0)  # rows of -inf (or inf) would give nan
        out = (x - m).exp().sum(dim, keepdim=True).log() + m
        return out if keepdim else out.squeeze(_dims(dim, self.ndim))

    def softmax(self, dim: int, dtype=None) -> "Tensor":
        x = self.cast(dtypes.as_dtype(dtype)) if dtype is not None else self
        x = x if x.dtype.is_floating_point else x.cast(dtypes.default_float)
        e = (x - x.amax(dim, keepdim=True).detach()).exp()
        return shown_as(e / e.sum(dim, keepdim=True), "SoftmaxBackward0")

    def log_softmax(self, dim: int, dtype=None) -> "Tensor":
        x = self.cast(dtypes.as_dtype(dtype)) if dtype is not None else self
        x = x if x.dtype.is_floating_point else x.cast(dtypes.default_float)
        shifted = x - x.amax(dim, keepdim=True).detach()
        return shown_as(shifted - shifted.exp().sum(dim, keepdim=True).log(), "LogSoftmaxBackward0")

    def all(self, dim=None, keepdim: bool = False) -> "Tensor":
        return self.bool()._reduce(Op.REDUCE_MIN, dim, keepdim)

    def any(self, dim=None, keepdim: bool = False) -> "Tensor":
        return self.bool()._reduce(Op.REDUCE_MAX, dim, keepdim)

    # ------------------------------------------------------------------ linear algebra
    def matmul(self, other) -> "Tensor":
        from .functional import matmul
        return matmul(self, self._operand(other))

    def dot(self, other) -> "Tensor":
        if self.ndim != 1 or other.ndim != 1:
            raise RuntimeError(f"1D tensors expected, but got {self.ndim}D and {other.ndim}D tensors")
        return self.matmul(other)

    mm = matmul

    # ------------------------------------------------------------------ in place
    def _assign(self, value: "Tensor", name: str) -> "Tensor":
        """Replace this tensor's value (and the part of the tensor it views) with `value`."""
        check_inplace(self, name)
        computed = value
        new = value.node if type(value) is Tensor else None
        if new is None or new.shape != self.shape or new.dtype is not self.dtype or new.device != self.node.device:
            value = self._operand(value).cast(self.dtype)._broadcast_to_inplace(self.shape)
        history = write_history(self, value)
        base = self._base
        owner = self if base is None else base
        if base is not None:
            base._node = write_through(base.node, self._steps, value.node)
            self._seen_version = base._version + 1
        self._node = value.node
        owner._version += 1
        defer(owner)
        if history is not None:
            owner.requires_grad, owner.grad_fn = True, history
            if type(computed) is Tensor:
                written_into(computed, owner, owner._version - 1)
            if base is not None:
                self._take_base_history()
        return self

    def _broadcast_to_inplace(self, shape: tuple[int, ...]) -> "Tensor":
        if broadcast_shapes(self.shape, shape) != shape:
            raise RuntimeError(f"output with shape {list(shape)} doesn't match the broadcast shape "
                               f"{list(broadcast_shapes(self.shape, shape))}")
        return self._broadcast_to(shape)

    def add_(self, other, alpha: Scalar = 1):
        return self._assign(self.add(other, alpha=alpha), "add_")

    def sub_(self, other, alpha: Scalar = 1):
        return self._assign(self.sub(other, alpha=alpha), "sub_")

    def mul_(self, other):
        return self._assign(self.mul(other), "mul_")

    def div_(self, other):
        return self._assign(self.div(other), "div_")

    def pow_(self, other):
        return self._assign(self.pow(other), "pow_")

    def clamp_(self, min=None, max=None):
        return self._assign(self.clamp(min, max), "clamp_")

    def zero_(self):
        return self.fill_(0)

    def fill_(self, value):
        value = value.item() if isinstance(value, Tensor) else value
        const = Tensor._wrap(Node.make(Op.CONST, (), value, self.shape, self.dtype, self.node.device))
        return self._assign(const, "fill_")

    def copy_(self, src, non_blocking: bool = False):
        src = self._operand(src)
        if src.node.device != self.node.device:
            src = src.to(self.device)
        return self._assign(src, "copy_")

    def __iadd__(self, other):
        return self.add_(other)

    def __isub__(self, other):
        return self.sub_(other)

    def __imul__(self, other):
        return self.mul_(other)

    def __itruediv__(self, other):
        return self.div_(other)

    # ------------------------------------------------------------------ autograd entry points
    def backward(self, gradient=None, retain_graph=None, create_graph: bool = False, inputs=None) -> None:
        from lazyfuse.autograd import backward
        backward(self, gradient, retain_graph, create_graph, inputs)

    def retain_grad(self) -> None:
        """Keep this non-leaf tensor's gradient in .grad after backward()."""
        if self.grad_fn is not None:
            self.grad_fn.retained = weakref.ref(self)

    def register_hook(self, hook):
        """Call hook(grad) with this tensor's gradient when backward computes it; a
        tensor it returns replaces the gradient (before a leaf accumulates it)."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        owner = self.grad_fn if self.grad_fn is not None else self
        if owner._hooks is None:
            owner._hooks = []
        return HookHandle(owner._hooks, hook)


class HookHandle:
    """What register_hook returns: remove() takes the hook off (as does leaving a
    `with` block)."""

    def __init__(self, hooks: list, hook, prepend: bool = False):
        self._hooks, self._hook = hooks, hook
        hooks.insert(0, hook) if prepend else hooks.append(hook)

    def remove(self) -> None:
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)

    def __enter__(self) -> "HookHandle":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def promote(a: Tensor, b: Tensor, other_is_scalar: bool, scalar: Tensor) -> DType:
    """PyTorch's result dtype of a binary op; a Python number argument arrives as a 0-d CONST tensor."""
    if a.dtype is b.dtype:  # whatever their kinds: 2 us a matmul spent on the lists below
        return a.dtype
    dims, zero_dims, scalars = [], [], []
    for t in (a, b):
        if other_is_scalar and t is scalar:
            scalars.append(t.dtype)
        elif t.ndim == 0:
            zero_dims.append(t.dtype)
        else:
            dims.append(t.dtype)
    return dtypes.result_type(dims, zero_dims, scalars)
