"""What the OpenCL and Triton renderers share: walking a kernel's graph from its
outputs, rendering each node once per index it is read at, the index
arithmetic of views, and kernel names."""
from __future__ import annotations

import hashlib

from lazyfuse.runtime.graph import ELEMENTWISE, Node, Op, postorder
from lazyfuse.runtime.schedule import Kernel, is_flat_identity, is_row_broadcast
from lazyfuse.runtime.view import View

_OP_NAME = {Op.REDUCE_MAX: "max", Op.REDUCE_MIN: "min", Op.FLOORDIV: "floordiv", Op.RECIP: "recip"}


def op_name(op: Op) -> str:
    return _OP_NAME.get(op, op.name.lower())


def extent(node) -> int:
    """How many elements a kernel may read from the node's buffer (a part's, for a part)."""
    return node.buffer.nbytes // max(node.dtype.itemsize, 1) if node.buffer is not None else node.numel


def kernel_name(kernel: Kernel, ops_seen: list[str], code: str) -> str:
    """Named after the ops it fuses, e.g. reduce_max_sum_exp_sub_div_3c51; the digest
    is of the kernel's code, so two kernels of one program never share a name."""
    kind = ("matmul" if kernel.matmul is not None else "partial" if kernel.split > 1
            else "reduce" if kernel.is_reduction else "map")
    label = "_".join(list(dict.fromkeys(ops_seen))[:6]) or ("" if kernel.matmul is not None else "copy")
    digest = hashlib.sha1(code.encode()).hexdigest()[:6]
    return "_".join(part for part in (kind, label, digest) if part)


def view_coordinates(flat: str, dims, floor_div: str) -> list[tuple[str, int, tuple[int, int], int]]:
    """(coordinate expression, stride, valid range, size) per merged dim of a view,
    for the non-negative flat position `flat`; `floor_div` is the language's
    integer division operator."""
    out = []
    div = 1
    for d, (size, stride, valid) in reversed(list(enumerate(dims))):
        coord = flat if div == 1 else f"({flat} {floor_div} {div})"
        if d > 0:
            coord = f"({coord} % {size})"
        out.append((coord, stride, valid, size))
        div *= size
    return out


def batch_offset(batch: tuple[int, ...], operand, floor_div: str) -> str:
    """Where a matmul operand's matrix for the flat batch index `batch` starts, as an
    index expression in a language whose integer division is `floor_div`."""
    terms = [str(operand.offset)]
    inner = 1
    for size, stride in reversed(list(zip(batch, operand.batch_strides))):
        if stride:
            terms.append(f"(batch {floor_div} {inner} % {size}) * {stride}")
        inner *= size
    return " + ".join(terms)


class ExpressionRenderer:
    """Subclasses say how to load, spell constants, compute ops, follow a view,
    zero the padding of a view and address a row; `value` does the walk."""

    def __init__(self, kernel: Kernel):
        self.k = kernel
        self.accumulators: dict[Node, str] = {}
        self.ops_seen: list[str] = []
        self.row_block = None  # where per-row values read inside row loops are computed
        self.reloads: dict[Node, Node] = {}  # values stored earlier in an output's buffer, read back from it

    def value(self, block, node: Node, idx) -> str:
        """The variable holding `node` at `idx`, emitting into `block` what computes it."""
        node = self.k.replace.get(node, node)
        key = (id(node), idx)
        if key in block.cache:
            return block.cache[key]
        for source in self._chain_below(block, node, idx):
            self.value(block, source, idx)
        if node in self.accumulators:
            result = self.accumulators[node]
        elif node in self.k.inputs or node.is_realized:
            result = self._load(block, node, idx)
        elif node in self.reloads:
            result = self._load(block, self.reloads[node], idx)
        elif node.op is Op.CONST:
            result = self._constant(block, node)
        elif node.op is Op.GATHER:
            stored = node.srcs[0]
            assert stored.is_realized or stored in self.k.inputs, f"{node} must read a stored value"
            self.ops_seen.append(op_name(node.op))
            result = self._gather(block, node.srcs[0], self.value(block, node.srcs[1], idx))
        elif node.op is Op.VIEW:
            if idx.row is not None and is_row_broadcast(node, self.k.shape, self.k.axes):
                result = self.value(self.row_block, node.srcs[0], self._row_index(idx))
            elif is_flat_identity(node):
                result = self.value(block, node.srcs[0], idx)
            else:
                inner = self._through_view(block, idx, node.arg)
                result = self.value(block, node.srcs[0], inner)
                if inner.valid is not None and inner.valid != idx.valid:  # padding reads as zero
                    result = self._zero_outside(block, node, result, inner)
        else:
            self.ops_seen.append(op_name(node.op))
            srcs = [self.value(block, s, idx) for s in node.srcs]
            # positional ops depend on where they are read, not only on their sources
            if node.op is Op.RAND:
                result = self._random(block, node, srcs[0], idx)
            elif node.op is Op.POSITION:
                result = self._position(block, node, idx)
            else:
                result = self._compute(block, node, srcs)
        block.cache[key] = result
        return result

    def render_riders(self, block, index, store) -> None:
        """Emit into `block` the riders' values at their one element, `index`, and their
        stores (`store(block, outputs, index)`). Their expressions are read as the
        riders' own kernels read them: what each loads is what it takes as inputs."""
        host = self.k
        try:
            for rider in host.riders:
                self.k = rider
                store(block, rider.outputs, index)
        finally:
            self.k = host

    def _element_view(self) -> View:
        """The kernel's elements ordered row by row (kept dims first, then reduced ones)."""
        k = self.k
        order = [d for d in range(len(k.shape)) if d not in k.axes] + list(k.axes)
        return View.contiguous(k.shape).permute(tuple(order))

    def _chain_below(self, block, node: Node, idx) -> list[Node]:
        """The elementwise ops under `node` read at the same index and not rendered
        yet, deepest first: rendering them in this order keeps value()'s recursion
        one level deep on a chain of thousands of ops (recursing down it overflowed
        Python's stack)."""
        def computed_here(n: Node) -> bool:
            return (n.op in ELEMENTWISE and (id(n), idx) not in block.cache and n not in self.accumulators
                    and n not in self.k.inputs and not n.is_realized and n not in self.reloads)

        def sources(n: Node) -> list[Node]:
            return [s for s in (self.k.replace.get(s, s) for s in n.srcs) if computed_here(s)]
        return postorder([node], sources)[:-1] if computed_here(node) else []

    def _load(self, block, node: Node, idx) -> str:
        raise NotImplementedError

    def _gather(self, block, node: Node, positions: str) -> str:
        """`node`'s stored elements at the variable `positions` (one per lane)."""
        raise NotImplementedError

    def _constant(self, block, node: Node) -> str:
        raise NotImplementedError

    def _row_index(self, idx):
        raise NotImplementedError

    def _through_view(self, block, idx, view):
        raise NotImplementedError

    def _zero_outside(self, block, node: Node, value: str, idx) -> str:
        raise NotImplementedError

    def _compute(self, block, node: Node, srcs: list[str]) -> str:
        raise NotImplementedError

    def _random(self, block, node: Node, counter: str, idx) -> str:
        """Op.RAND's value at idx (see runtime/random_bits.py) from its counter there."""
        raise NotImplementedError

    def _position(self, block, node: Node, idx) -> str:
        """Op.POSITION's value at idx: the flat position, in the node's dtype."""
        raise NotImplementedError


def needs_divisor_sign(rem: str, b: str) -> str:
    """Where a C-style remainder (the dividend's sign, as OpenCL's and Triton's %
    and fmod give it) differs from Python's (the divisor's): the same expression in
    both kernel languages."""
    return f"(({rem} != 0) & (({rem} < 0) != ({b} < 0)))"
