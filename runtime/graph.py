"""The lazy graph: primitive ops and hash-consed nodes.

Every tensor value, forward or backward, is a Node. Equal subgraphs are one
Node (hash-consing), so a value computed twice is scheduled once. A node that
has been computed holds its device buffer and forgets its sources: it is a
leaf from then on.
"""
from __future__ import annotations

import math
import operator
import weakref
from enum import Enum, auto
from typing import Any, Optional

from .dtypes import DType
from .view import View


class Op(Enum):
    BUFFER = auto()  # a computed value in device memory (node.buffer)
    CONST = auto()  # arg: a Python number, the same at every index
    VIEW = auto()  # arg: View, how this node's index reads its source
    CAST = auto()  # to node.dtype
    # unary
    NEG = auto(); EXP = auto(); LOG = auto(); EXP2 = auto(); LOG2 = auto(); SIN = auto(); COS = auto()  # noqa: E702
    SQRT = auto(); RECIP = auto(); TANH = auto(); ERF = auto(); SIGMOID = auto(); ABS = auto(); NOT = auto()  # noqa: E702
    # binary
    ADD = auto(); SUB = auto(); MUL = auto(); DIV = auto(); FLOORDIV = auto(); MOD = auto(); POW = auto()  # noqa: E702
    MAX = auto(); MIN = auto(); LT = auto(); LE = auto(); EQ = auto(); NE = auto()  # noqa: E702
    # ternary
    WHERE = auto()  # srcs: condition, value if true, value if false
    # random: srcs a counter (int64, the same at every index); uniform in [0, 1) from a
    # hash of the counter plus the element's flat position (see runtime/random_bits.py)
    RAND = auto()
    # positional: no srcs; the element's flat position in the node's shape (arange)
    POSITION = auto()
    # gathered: srcs a computed value (read as one flat run of its elements, so always
    # a stored buffer) and integer positions in it; the element at each position (the
    # node has the positions' shape). An embedding's rows, picked by token
    GATHER = auto()
    # reductions over arg (a tuple of axes); the node keeps the reduced axes as size 1
    SUM = auto(); PROD = auto(); REDUCE_MAX = auto(); REDUCE_MIN = auto()  # noqa: E702
    # stage one of a two-stage reduction: arg partial results per row of srcs[0] (a reduction)
    PARTIAL = auto()

    # members are singletons: hash by identity in C rather than Enum's Python-level
    # hash of the name (node keys hash an Op each, ~100k times a second when recording)
    __hash__ = object.__hash__


UNARY = {Op.NEG, Op.EXP, Op.LOG, Op.EXP2, Op.LOG2, Op.SIN, Op.COS, Op.SQRT, Op.RECIP, Op.TANH, Op.ERF, Op.SIGMOID, Op.ABS, Op.NOT, Op.CAST}
BINARY = {Op.ADD, Op.SUB, Op.MUL, Op.DIV, Op.FLOORDIV, Op.MOD, Op.POW, Op.MAX, Op.MIN, Op.LT, Op.LE, Op.EQ, Op.NE}
COMPARISON = {Op.LT, Op.LE, Op.EQ, Op.NE}
ELEMENTWISE = UNARY | BINARY | {Op.WHERE, Op.RAND, Op.POSITION, Op.GATHER}
REDUCE = {Op.SUM, Op.PROD, Op.REDUCE_MAX, Op.REDUCE_MIN}


# the interning table is swept of dead nodes' entries once it holds this many
MIN_SWEEP_ENTRIES = 4096


class Node:
    """One value in the lazy graph. Create nodes with `Node.make`, never directly."""

    __slots__ = ("op", "srcs", "arg", "shape", "dtype", "device", "buffer", "_key", "walks", "__weakref__")
    # key -> weak reference to the node with that key. A plain dict of weak references
    # (WeakValueDictionary's bookkeeping was a tenth of the Python time of a small
    # training step), without removal callbacks (which cost 0.2-0.3 us per node): the
    # entries of dead nodes are dropped when the table has doubled since the last sweep
    _interned: dict[tuple, "weakref.ref"] = {}
    _sweep_at = MIN_SWEEP_ENTRIES
    # when a list, every `make` call is appended to it as (node, op, srcs, arg, shape,
    # dtype, device): autograd records what its derivative rules make, to replay it
    made_log: Optional[list] = None

    def __init__(self, op: Op, srcs: tuple["Node", ...], arg: Any, shape: tuple[int, ...], dtype: DType, device: str):
        self.op, self.srcs, self.arg = op, srcs, arg
        self.shape, self.dtype, self.device = shape, dtype, device
        self.buffer = None
        self._key: Optional[tuple] = None
        self.walks = 0  # realizes whose graph held this node while it was not computed (runtime/realize.py)

    @staticmethod
    def make(op: Op, srcs: tuple["Node", ...], arg: Any, shape: tuple[int, ...], dtype: DType, device: str) -> "Node":
        # ids are safe in the key: an interned node keeps its sources alive, a node
        # leaves the table when it is computed and drops them, and a dead node's entry
        # finds no node (see _sweep_interned)
        arg_key = (type(arg).__name__, repr(arg)) if op is Op.CONST else arg
        key = (op, arg_key, shape, dtype, device, *map(id, srcs))  # flat: one tuple a node, not two
        ref = Node._interned.get(key)
        node = ref() if ref is not None else None
        if node is None:
            node = Node(op, srcs, arg, shape, dtype, device)
            node._key = key
            Node._interned[key] = weakref.ref(node)
            if len(Node._interned) > Node._sweep_at:
                _sweep_interned()
        if Node.made_log is not None:
            Node.made_log.append((node, op, srcs, arg, shape, dtype, device))
        return node

    @staticmethod
    def from_buffer(buffer, shape: tuple[int, ...], dtype: DType, device: str) -> "Node":
        node = Node.placeholder(shape, dtype, device)
        node.buffer = buffer
        return node

    @staticmethod
    def placeholder(shape: tuple[int, ...], dtype: DType, device: str) -> "Node":
        """A leaf for a value a launch will write (the launch gives it its buffer)."""
        return Node(Op.BUFFER, (), None, shape, dtype, device)

    def set_buffer(self, buffer) -> None:
        """Record the computed value: the node becomes a leaf holding `buffer`."""
        self._leave_interned()
        self.op, self.srcs, self.arg, self.buffer = Op.BUFFER, (), None, buffer

    def read_through(self, source: "Node", view: View) -> None:
        """Take the same value from `source` read through `view` from now on (a constant
        becoming a device scalar: see runtime/changing_constants.py)."""
        self._leave_interned()
        self.op, self.srcs, self.arg = Op.VIEW, (source,), view
        self._key = (Op.VIEW, view, self.shape, self.dtype, self.device, id(source))  # not interned: read by walks

    def _leave_interned(self) -> None:
        """A node whose op changes no longer answers to its key."""
        ref = Node._interned.get(self._key) if self._key is not None else None
        if ref is not None and ref() is self:
            del Node._interned[self._key]
        self._key = None

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def is_realized(self) -> bool:
        return self.buffer is not None

    def __repr__(self) -> str:
        return f"<Node {self.op.name} {self.shape} {self.dtype.name} {self.device}>"


def _sweep_interned() -> None:
    """Drop the entries of dead nodes. A dead node's key may name sources whose ids
    now belong to new nodes; a lookup that finds it gets no node and makes one."""
    Node._interned = {key: ref for key, ref in Node._interned.items() if ref() is not None}
    Node._sweep_at = max(MIN_SWEEP_ENTRIES, 2 * len(Node._interned))


def postorder(roots: list, children) -> list:
    """Everything reachable from roots through `children(x)`, each after all of its
    children, without recursion (graphs of 100k nodes are fine): a depth-first walk
    whose stack holds each open item with an iterator over its remaining children."""
    order: list = []
    seen: set[int] = set()
    for root in roots:
        if id(root) in seen:
            continue
        seen.add(id(root))
        stack = [(root, iter(children(root)))]
        while stack:
            item, remaining = stack[-1]
            for child in remaining:
                if id(child) not in seen:
                    seen.add(id(child))
                    stack.append((child, iter(children(child))))
                    break
            else:
                stack.pop()
                order.append(item)
    return order


def toposort(roots: list[Node], stop=None) -> list[Node]:
    """Nodes reachable from roots, sources first. `stop(n)` marks nodes whose sources
    are not visited; a computed node has none, so the walk always ends there."""
    return postorder(roots, _sources if stop is None else lambda n: () if stop(n) else n.srcs)


_sources = operator.attrgetter("srcs")


def view_node(src: Node, view: View) -> Node:
    """A node reading `src` through `view` (a view of src's contiguous layout)."""
    if src.op is Op.CONST and view.mask is None:
        return Node.make(Op.CONST, (), src.arg, view.shape, src.dtype, src.device)
    if view.reads_nothing:  # padding only: zeros
        return Node.make(Op.CONST, (), src.dtype.np_dtype.type(0).item(), view.shape, src.dtype, src.device)
    if view.is_contiguous and view.shape == src.shape:
        return src
    return Node.make(Op.VIEW, (src,), view, view.shape, src.dtype, src.device)
