"""The scheduler: cuts the lazy graph into as few kernels as it can.

A kernel has one iteration structure:
- pointwise: one index per element of an output shape;
- row: the input shape S of its reductions, split into rows (the kept axes)
  and a row (the reduced axes A). One work-item walks a row: a loop per phase
  of reductions (a reduction whose input needs another reduction's result,
  like softmax's sum after its max, runs in a later phase), then a loop
  writing full-shape outputs, then the per-row epilogue.

A row kernel whose reduction is a matrix product (runtime/matmul.py) is a
matmul kernel: the renderers tile it, read its two operands (elementwise
expressions of buffers) through their strides, and apply the rest of the
kernel as its epilogue; it computes no other reduction.

Elementwise work fuses into whichever kernel consumes it, computed at the
index it is read through views. A node is materialised (gets its own kernel
and a buffer) when a user asks for it, or when it is a reduction read
somewhere other than its own row: through a view that is not the broadcast
back over its row, or by a kernel with a different structure. Each such
refusal is logged with its reason under LAZYFUSE_DEBUG=1. Elementwise work
that reads a materialised reduction on its rows (an optimizer's update from
a stored gradient) joins that reduction's kernel, which then stores both.

A lane reduction is a reduction over the rows of a row kernel whose
work-item holds all of them (one row per vector lane), read back spread
over those rows: a training step's forward `x @ w` feeding the weight
gradient `x.T @ g`, both reductions of the same x * w-shaped product. The
kernel computes it at every position of its row loop, from the loads it
makes anyway, and stores it, so x is read once instead of twice.

A rider is a kernel of one element of pointwise work (a generator's counter
advance, an optimizer's step count): another kernel of the schedule, placed
between what the rider reads and what reads it, computes it in its first
work-item, which saves the rider its launch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Optional

from . import debug
from .graph import ELEMENTWISE, REDUCE, Node, Op, postorder, toposort
from .matmul import (REREAD_WORK, Matmul, factors, is_product, is_tiled, match as match_matmul, match_transposed,
                     operand_reads, row_operand_reads)
from .movement import reshape
from .view import View, contiguous_strides

# a row reduction shorter than this is never split across work-items
MIN_SPLIT_ROW = 8192
# each work-item of a split reduction walks at least this many elements
MIN_SPLIT_CHUNK = 1024
# chunks per parallel slot: more, smaller chunks balance the cores better
SPLIT_CHUNKS_PER_SLOT = 8
# the most rows one work-item reduces at once (OpenCL's lanes across rows: 8 vectors of 8)
ROWS_PER_ITEM = 64
# the most vector lanes a renderer uses (8 floats; kernels/opencl.py reads it from here):
# rows held in lanes come in multiples of it
MAX_LANES = 8
# a kernel computes chains of at most this many elementwise ops: longer ones are cut
# and their midpoints stored (PoCL's LLVM crashed building a 100,000-op chain)
MAX_FUSED_DEPTH = 1000
# elementwise work read at more than one index (y + y shifted: a scan, a stencil) is
# computed once per index it is read at; from this many ops and moved reads (reads
# through a view, each index arithmetic and a gather) per element it is stored instead,
# so repeating such a step costs a kernel each few steps, not twice the work each step
# (ten steps of a prefix sum took minutes to compile as one kernel)
MAX_RECOMPUTED_WORK = 4
# elementwise work that several kernels would each compute is stored once when its ops
# times the kernels beyond the first reach this (see Scheduler._shared_work)
SHARED_WORK = 16
# how many distinct chains of views reading a node _needed_at_several_indices tells apart
MAX_READ_CHAINS = 8


@dataclass(eq=False)
class Kernel:
    """One kernel to generate: what it stores, how it iterates, what it loads."""

    outputs: list[Node]
    shape: tuple[int, ...]  # pointwise: the outputs' shape; row kernel: the reductions' input shape S
    axes: tuple[int, ...] = ()  # the reduced axes A of S; () for a pointwise kernel
    reduce_phases: list[list[Node]] = field(default_factory=list)  # inline reductions, by phase
    inputs: set[Node] = field(default_factory=set)  # nodes read from buffers
    split: int = 1  # > 1: stage one of a two-stage reduction, `split` partial results per row
    replace: dict[Node, Node] = field(default_factory=dict)  # nodes rendered as other nodes (stage two)
    matmul: Optional[Matmul] = None  # set: a tiled matrix product with its epilogue
    # reductions over the rows (all held by one work-item), computed at each position of
    # the row loop; those among `outputs` are stored there, at that position
    lane_reduces: list[Node] = field(default_factory=list)
    # one-element pointwise kernels computed by this kernel's first work-item (see _fold_riders)
    riders: list["Kernel"] = field(default_factory=list)

    @property
    def stored(self) -> list[Node]:
        """Every node the launch writes: the outputs, then the riders' outputs."""
        return self.outputs + [o for r in self.riders for o in r.outputs]

    @property
    def reads(self) -> set[Node]:
        """Every node the launch reads from a buffer, the riders' reads included."""
        return self.inputs.union(*(r.inputs for r in self.riders))

    @property
    def is_rider(self) -> bool:
        """A kernel whose whole work is one element of pointwise work."""
        return not self.is_reduction and self.matmul is None and math.prod(self.shape) == 1

    @property
    def is_reduction(self) -> bool:
        return bool(self.axes) or bool(self.reduce_phases)

    @property
    def rows(self) -> int:
        return math.prod(s for d, s in enumerate(self.shape) if d not in self.axes)

    @property
    def row_len(self) -> int:
        return math.prod(self.shape[d] for d in self.axes)

    @property
    def reduces(self) -> list[Node]:
        return [r for phase in self.reduce_phases for r in phase]

    def full_outputs(self) -> list[Node]:
        """Outputs of a row kernel written at every element of S (softmax's result)."""
        return [o for o in self.outputs if self.is_reduction and o.numel == math.prod(self.shape) and self.row_len != 1]


@dataclass(frozen=True)
class _Structure:
    shape: tuple[int, ...]
    axes: tuple[int, ...]
    level: str  # "point", "reduced" (outputs at the rows) or "full" (outputs at every element of S)
    product: Optional[Matmul] = None  # a tiled matrix product, whose rows are its outputs
    # materialised nodes computed again in this kernel, which hosts elementwise work
    # reading a stored reduction on its rows (an optimizer's update of a parameter and
    # its state from the stored gradient): the kernels then merge into one
    hosted: frozenset = frozenset()


def is_flat_identity(node: Node) -> bool:
    """A view that reads all of its source at the same flat index (a reshape)."""
    return node.op is Op.VIEW and node.arg.is_contiguous and node.numel == node.srcs[0].numel


def reads_in_place(node: Node) -> bool:
    """A view reading each element of its source at the source's own flat index, as
    a reshape does, perhaps repeated along new or size-1 axes, as a broadcast does."""
    view = node.arg
    if view.mask is not None or view.offset != 0:
        return False
    kept = [(size, stride) for size, stride in zip(view.shape, view.strides) if stride != 0]
    sizes = tuple(size for size, _ in kept)
    return math.prod(sizes) == node.srcs[0].numel and tuple(st for _, st in kept) == contiguous_strides(sizes)


def broadcast_axes(node: Node) -> Optional[tuple[int, ...]]:
    """For a view that only spreads its contiguous source over some axes (as
    `x.sum(1, keepdim=True).expand_as(x)` does), those axes; else None."""
    if node.op is not Op.VIEW:
        return None
    src = node.srcs[0]
    if len(src.shape) != len(node.shape) or any(s != n and s != 1 for s, n in zip(src.shape, node.shape)):
        return None  # (a view reading one column of a matrix equals the matrix "expanded" to fewer columns)
    if node.arg != View.contiguous(src.shape).expand(node.shape):
        return None
    return tuple(d for d, (s, n) in enumerate(zip(src.shape, node.shape)) if s != n)


def is_row_broadcast(node: Node, shape: tuple[int, ...], axes: tuple[int, ...]) -> bool:
    """A view spreading a per-row value back over the rows of a row kernel (shape, axes)."""
    return node.shape == shape and broadcast_axes(node) == axes and bool(axes)


class Scheduler:
    def __init__(self, parallelism: int, fusion: bool = True):
        self.parallelism = parallelism  # work-items that keep the device busy
        self.fusion = fusion

    def schedule(self, targets: list[Node]) -> list[Kernel]:
        targets = [t for t in dict.fromkeys(targets) if not t.is_realized]
        if not targets:
            return []
        self.refusals: dict[Node, str] = {}
        materialize: dict[Node, None] = dict.fromkeys(targets)
        self.cuts = set(_cuts(targets))
        materialize.update(dict.fromkeys(self.cuts))
        if not self.fusion:
            nodes = toposort(targets)
            # a product's multiply stays in its kernel: alone it would be an (M, N, K) tensor
            products = {n.srcs[0] for n in nodes if match_matmul(n) is not None}
            for n in nodes:
                if (n.op in ELEMENTWISE or n.op in REDUCE) and n not in products:
                    materialize[n] = None
        # planning a kernel can ask for more nodes to be materialised, which can
        # change other plans: repeat until nothing new is asked for
        while True:
            plans = {m: self._plan(m, materialize) for m in materialize}
            extra = [n for p in plans.values() for n in p.pop("materialize") if n not in materialize]
            if not extra:
                extra = self._shared_work(plans, materialize)
                self.cuts.update(extra)
            if not extra:
                break
            materialize.update(dict.fromkeys(extra))
        for node, why in self.refusals.items():
            debug.log(1, f"not fusing {node.op.name}{node.shape} into its consumer: {why}")
        # kernels after the kernels of their inputs, which include nodes the graph does not
        # lead to (a matmul's row-major copy of an operand: runtime/matmul.py)
        order = postorder(list(materialize), lambda n: n.srcs + tuple(plans[n]["inputs"]) if n in plans else n.srcs)
        kernels = [self._kernel(m, plans[m]) for m in order if m in materialize]
        return self._fold_riders(self._split_reductions(self._merge(self._absorb_lane_reductions(kernels))))

    # structure ----------------------------------------------------------------------
    def _structure(self, m: Node, materialize) -> _Structure:
        """Find the reduction (if any) that sets m's kernel structure, walking
        from m through elementwise ops and flat-identity views; failing that, the
        kernel of a materialised reduction m reads on its rows (see _host)."""
        stack, seen = [m], set()
        host = None
        while stack:
            n = stack.pop()
            if n is not m and n in materialize:
                found = self._host(n, materialize)
                if found is not None and (host is None or (found.shape, found.axes) == (host.shape, host.axes)):
                    host = found if host is None else replace(host, hosted=host.hosted | found.hosted)
            if id(n) in seen or n.is_realized or (n is not m and n in materialize):
                continue
            seen.add(id(n))
            transposed = match_transposed(n)
            if transposed is not None and transposed.reduce not in materialize:
                return _Structure(n.srcs[0].srcs[0].shape, n.srcs[0].arg, "reduced", transposed)
            if n.op in REDUCE:
                product = match_matmul(n)
                return _Structure(n.srcs[0].shape, n.arg, "reduced", product)
            axes = broadcast_axes(n)
            if axes and not self._splits(n.shape, axes):
                reduce = self._reduce_below(n.srcs[0], materialize)
                if reduce is not None and (reduce.srcs[0].shape, reduce.arg) == (n.shape, axes):
                    return _Structure(n.shape, axes, "full")
            if n.op in ELEMENTWISE or is_flat_identity(n):
                stack.extend(n.srcs)
        if host is None or _reads_off_rows(m, host.hosted, materialize):
            return _Structure(m.shape, (), "point")
        return host

    def _host(self, n: Node, materialize) -> Optional[_Structure]:
        """The structure of materialised n's kernel when elementwise work reading n on
        its rows can join that kernel: n is a reduction or a reshape of one (not a
        matrix product, whose tiled kernel takes no extra outputs), or elementwise
        work that joins such a kernel itself."""
        if not self.fusion:
            return None
        r = n
        while is_flat_identity(r) and not r.srcs[0].is_realized and r.srcs[0] not in materialize:
            r = r.srcs[0]
        if r.op in REDUCE and not r.is_realized and match_matmul(r) is None:
            return _Structure(r.srcs[0].shape, r.arg, "reduced", hosted=frozenset([n]))
        if n.op in ELEMENTWISE:
            st = self._structure(n, materialize)
            if st.hosted:
                return replace(st, hosted=st.hosted | {n})
        return None

    @staticmethod
    def _reduce_below(n: Node, materialize) -> Optional[Node]:
        """A reduction computing n per row (reached through elementwise ops), if any."""
        stack, seen = [n], set()
        while stack:
            n = stack.pop()
            if id(n) in seen or n.is_realized or n in materialize:
                continue
            seen.add(id(n))
            if n.op in REDUCE:
                return n
            if n.op in ELEMENTWISE or is_flat_identity(n):
                stack.extend(n.srcs)
        return None

    def _splits(self, shape: tuple[int, ...], axes: tuple[int, ...]) -> bool:
        """Too few rows to keep the device busy, each long: reduce in two stages."""
        row_len = math.prod(shape[d] for d in axes)
        return math.prod(shape) // max(row_len, 1) < self.parallelism and row_len >= MIN_SPLIT_ROW

    # planning -------------------------------------------------------------------------
    def _plan(self, m: Node, materialize) -> dict:
        st = self._structure(m, materialize)
        splits = st.level == "reduced" and self._splits(st.shape, st.axes)
        inputs, inline, more = set(), {}, []
        # contexts: "rows" is the epilogue, at one index per row ("transposed rows": the
        # product a matmul kernel stores transposed, read through that transpose); "elements" the loops over
        # a row's elements; "row values" per-row values those loops read through a
        # broadcast; "any" an index through other views, where no reduction can be inlined
        # "lane values": values at one position of the row loop, spread over the rows
        # (see lane reductions in the module docstring)
        start = {"point": "any", "reduced": "rows", "full": "elements"}[st.level]
        lanes_hold_rows = self._lanes_hold_rows(st)
        lane: dict[Node, None] = {}
        computed: dict[Node, None] = {}  # the elementwise ops and views the kernel evaluates
        stack, seen = [(m, start)], set()
        while stack:
            n, ctx = stack.pop()
            if (id(n), ctx) in seen:
                continue
            seen.add((id(n), ctx))
            if ctx == "lane values" and n.op in REDUCE and not n.is_realized and self._reduces_lanes(n, st):
                lane[n] = None
                stack.append((n.srcs[0], "elements"))
            elif n.is_realized or (n is not m and n in materialize and not self._recomputable(n, st, materialize)):
                inputs.add(n)
            elif n.op is Op.CONST:
                continue
            elif n.op in ELEMENTWISE:
                computed[n] = None
                stack.extend((s, ctx) for s in n.srcs)
            elif n.op is Op.VIEW:
                computed[n] = None
                src = n.srcs[0]
                if is_flat_identity(n):
                    stack.append((src, ctx))
                elif st.product is not None and n is st.product.transposed_by and ctx == "rows":
                    stack.append((src, "transposed rows"))
                elif ctx == "elements" and is_row_broadcast(n, st.shape, st.axes):
                    stack.append((src, "row values"))
                elif ctx == "elements" and lanes_hold_rows and _spreads_over_rows(n, st):
                    stack.append((src, "lane values"))
                else:
                    stack.append((src, "any"))
            elif n.op in REDUCE:
                product_rows = "rows" if st.product is None or st.product.transposed_by is None else "transposed rows"
                if st.product is not None and ctx == product_rows and n is st.product.reduce:
                    inline[n] = None
                    sources = [st.product.left.source, st.product.right.source]
                    reads = operand_reads(st.product)
                    stack.extend((source, "any")
                                 for source in self._product_operands(sources, materialize, more, inputs, reads))
                elif st.product is not None:
                    self._refuse(n, "a matmul kernel computes one product")
                    more.append(n)
                    inputs.add(n)
                elif ctx == "row values" and splits:
                    self._refuse(n, "its rows are split across work-items, so a later phase cannot read its result")
                    more.append(n)
                    inputs.add(n)
                elif n is not m and is_tiled(n):
                    self._refuse(n, "a product worth a tiled kernel of its own")
                    more.append(n)
                    inputs.add(n)
                elif ctx in ("rows", "row values") and (n.srcs[0].shape, n.arg) == (st.shape, st.axes):
                    inline[n] = None
                    if is_product(n):
                        stack.extend((view, "elements") for view in factors(n.srcs[0]))
                        # (rows held in vector lanes read an operand spread over them once per position)
                        reads = [] if lanes_hold_rows else row_operand_reads(n)
                        self._product_operands([view.srcs[0] for view in factors(n.srcs[0])], materialize, more, inputs,
                                               reads)
                    else:
                        stack.append((n.srcs[0], "elements"))
                else:
                    why = ("it is read through a view at indices other than its rows" if ctx == "any"
                           else f"the consumer iterates {st.shape} reducing {st.axes}")
                    self._refuse(n, why)
                    more.append(n)
                    inputs.add(n)
            else:
                raise AssertionError(f"cannot schedule {n}")
        # a lane reduction read elsewhere too is read from its buffer everywhere; the
        # others in the order they are computed (one may read another, spread)
        kept = {r for r in lane if r not in inputs and r not in inline}
        lane = [n for n in toposort(list(kept), stop=lambda n: n.is_realized or n in inputs) if n in kept]
        if lane and len(_phases(list(inline), inputs)) != 1:
            for r in lane:
                self._refuse(r, "its kernel's rows reduce in more than one phase, so they are not split")
            more += lane
            inputs.update(lane)
            lane = []
        return {"structure": st, "inputs": inputs, "inline": list(inline), "materialize": more, "lane": lane,
                "computed": computed}

    def _product_operands(self, sources: list[Node], materialize, more: list, inputs: set,
                          reads: list[tuple[Node, int, int]]) -> list[Node]:
        """Of a multiply-reduce's two operand sources, those to read in its kernel.
        A source that is itself a view no single strided read expresses (sliding
        windows reshaped to im2col columns, padding; a matmul's copy of an operand,
        see runtime/matmul.py) is materialised instead: the product reads each of
        its elements many times, each time through that view's index arithmetic
        (a convolution's product ran 20-50x slower). So is elementwise work whose
        evaluations at each read (`reads`: source, cost per element, elements) cost
        REREAD_WORK evaluations more than one kernel computing it (runtime/matmul.py)."""
        cost = {source: (per_element, elements) for source, per_element, elements in reads}
        read = []
        for source in sources:
            why = None
            if source in materialize or source.is_realized:
                pass
            elif source.op is Op.VIEW and not is_flat_identity(source):
                why = "a product reads its operands many times"
            elif (source.op in ELEMENTWISE and source in cost and (cost[source][0] - 1) * cost[source][1]
                  * expression_ops(source, materialize) >= REREAD_WORK):
                why = "the product's kernel would evaluate it again at each read of an element"
            if why is None:
                read.append(source)
            else:
                self._refuse(source, why)
                more.append(source)
                inputs.add(source)
        return read

    def _kernel(self, m: Node, plan: dict) -> Kernel:
        st: _Structure = plan["structure"]
        inline = plan["inline"]
        return Kernel(outputs=[m], shape=st.shape, axes=st.axes if st.level != "point" else (),
                      reduce_phases=_phases(inline, plan["inputs"]), inputs=plan["inputs"], matmul=st.product,
                      lane_reduces=plan["lane"])

    # lane reductions -------------------------------------------------------------------
    def _lanes_hold_rows(self, st: _Structure) -> bool:
        """A row kernel whose rows one work-item holds, one per vector lane (at most
        ROWS_PER_ITEM, in whole vectors of the widest lanes), along a single dim, and
        whose long rows are split across work-items (else one work-item would do it all)."""
        rows = [d for d, size in enumerate(st.shape) if d not in st.axes and size > 1]
        n_rows = math.prod(st.shape[d] for d in rows)
        row_len = math.prod(st.shape[d] for d in st.axes)
        return (self.fusion and st.level == "reduced" and st.product is None
                and len(rows) == 1 and n_rows <= ROWS_PER_ITEM and n_rows % MAX_LANES == 0
                and row_len >= MIN_SPLIT_ROW)

    @staticmethod
    def _reduces_lanes(r: Node, st: _Structure) -> bool:
        """r reduces the same shape over exactly the kernel's rows: at one position of
        the row loop, its value is the reduction across the lanes."""
        S = st.shape
        if r.srcs[0].shape != S:
            return False
        rows = {d for d, size in enumerate(S) if d not in st.axes and size > 1}
        return {d for d in r.arg if S[d] > 1} == rows

    def _absorb_lane_reductions(self, kernels: list[Kernel]) -> list[Kernel]:
        """A lane reduction that is stored (others read it) is stored by the kernel that
        computes it on its lanes, which takes the place of the reduction's own kernel
        when that kernel stores nothing else and what the other kernel reads is ready
        by then; otherwise the kernel reads the stored value instead."""
        position = {o: i for i, k in enumerate(kernels) for o in k.outputs}
        for k in list(kernels):
            for r in [r for r in k.lane_reduces if r in position]:
                own = position[r]
                ready = all(position.get(i, -1) < own for i in k.inputs)
                if kernels[own].outputs == [r] and ready and _splits_in_two(k, self.parallelism):
                    k.outputs.append(r)
                    kernels[own] = k
                    kernels[kernels.index(k, own + 1)] = None
                else:
                    k.lane_reduces.remove(r)
                    k.inputs.add(r)
            kernels = [k for k in kernels if k is not None]
            position = {o: i for i, k in enumerate(kernels) for o in k.outputs}
        return kernels

    def _shared_work(self, plans: dict, materialize) -> list[Node]:
        """Elementwise nodes to store because several kernels would each compute them:
        those whose ops (up to stored values) times the kernels beyond the first reach
        SHARED_WORK. Readers are decided before what they read, and a stored node's
        sources count only the kernel storing it, so a recurrence (an LSTM's cell-state
        gradient: each step's kernel computed every later step's) stores each step's
        value once instead of every kernel computing the chain again."""
        evaluated: dict[Node, None] = {}
        recomputed_by: dict[Node, set] = {}  # stored nodes other kernels compute again (see _recomputable)
        for m, p in plans.items():
            evaluated.update(p["computed"])
            evaluated.update(dict.fromkeys(p["inline"]))
            for n in p["computed"]:
                if n in plans and n is not m:
                    recomputed_by.setdefault(n, set()).add(m)
        readers: dict[Node, list[Node]] = {}
        for c in list(evaluated) + list(plans):
            for src in c.srcs:
                readers.setdefault(src, []).append(c)
        kernels: dict[Node, set] = {}  # the kernels computing each node
        cuts = []
        for n in reversed(toposort(list(plans), stop=lambda n: n.is_realized)):
            if n not in plans and n not in evaluated:
                continue
            computing = set().union(*[kernels.get(c, ()) for c in readers.get(n, ())])
            if n in plans:
                computing = {n} | (computing & recomputed_by.get(n, set()))
            elif (n.op in ELEMENTWISE and len(computing) > 1
                  and (len(computing) - 1) * expression_ops(n, materialize) >= SHARED_WORK):
                self._refuse(n, f"{len(computing)} kernels would each compute it")
                cuts.append(n)
                computing = {n}
            kernels[n] = computing
        return cuts

    def _recomputable(self, n: Node, st: _Structure, materialize) -> bool:
        """A materialised elementwise node of a pointwise kernel over the same shape is
        computed again where it is read, so the two kernels merge into one with both
        outputs (an optimizer's parameter and its state) instead of one reading the other."""
        if n in st.hosted:
            return True
        return (self.fusion and st.level == "point" and n.op in ELEMENTWISE and n.shape == st.shape
                and n not in self.cuts and self._structure(n, materialize).level == "point")

    def _refuse(self, node: Node, why: str) -> None:
        self.refusals.setdefault(node, why)

    # merging and splitting --------------------------------------------------------------------
    def _merge(self, kernels: list[Kernel]) -> list[Kernel]:
        """Kernels with the same structure and no dependency between them become one
        multi-output kernel (sibling reductions, outputs sharing inputs)."""
        merged: list[Kernel] = []
        producer: dict[Node, int] = {}
        for k in kernels:
            latest_dep = max((producer[i] for i in k.inputs if i in producer), default=-1)
            key = _merge_key(k)
            candidates = [j for j in range(latest_dep + 1, len(merged)) if _merge_key(merged[j]) == key
                          and self.fusion and merged[j].matmul is None and k.matmul is None
                          and not merged[j].lane_reduces and not k.lane_reduces]
            # rather one computing a reduction k computes too (k hosts work on its rows)
            target = next((j for j in candidates if not set(k.reduces).isdisjoint(merged[j].reduces)),
                          candidates[0] if candidates else None)
            if target is None:
                merged.append(k)
                target = len(merged) - 1
            else:
                into = merged[target]
                into.outputs += k.outputs
                into.inputs |= k.inputs
                into.reduce_phases = _phases(list(dict.fromkeys(into.reduces + k.reduces)), into.inputs)
            for o in k.outputs:
                producer[o] = target
        return merged

    def _split_reductions(self, kernels: list[Kernel]) -> list[Kernel]:
        out: list[Kernel] = []
        for k in kernels:
            if not _splits_in_two(k, self.parallelism):
                out.append(k)
                continue
            groups = max(k.rows // ROWS_PER_ITEM, 1)
            split = max(2, min(-(-self.parallelism * SPLIT_CHUNKS_PER_SLOT // groups), k.row_len // MIN_SPLIT_CHUNK))
            partials = [Node.make(Op.PARTIAL, (r,), split, (k.rows, split), r.dtype, r.device) for r in k.reduces]
            # lane reductions are stored by stage one, where the row loop runs
            lane_outputs = [o for o in k.outputs if o in k.lane_reduces]
            out.append(Kernel(outputs=partials + lane_outputs, shape=k.shape, axes=k.axes,
                              reduce_phases=k.reduce_phases, inputs=k.inputs, split=split, lane_reduces=k.lane_reduces))
            # partial sums combine by summing, partial maxima by max, and so on
            combines = [Node.make(r.op, (p,), (1,), (k.rows, 1), r.dtype, r.device) for r, p in zip(k.reduces, partials)]
            out.append(Kernel(outputs=[o for o in k.outputs if o not in lane_outputs], shape=(k.rows, split),
                              axes=(1,), reduce_phases=[combines], inputs=k.inputs | set(partials),
                              replace={r: reshape(c, r.shape) for r, c in zip(k.reduces, combines)}))
        return out

    def _fold_riders(self, kernels: list[Kernel]) -> list[Kernel]:
        """A one-element kernel (a generator's counter advance after a draw, an
        optimizer's step count) would cost a launch for one work-item's work: it rides
        in another kernel instead, whose first work-item computes it. The host comes
        after the kernels computing what the rider reads and before those reading what
        it computes; it is not a tiled product, and has work-items to run it."""
        if not self.fusion:
            return kernels
        kernels = list(kernels)
        for rider in [k for k in kernels if k.is_rider]:
            at = kernels.index(rider)
            made = [i for i, k in enumerate(kernels) if not rider.reads.isdisjoint(k.stored)]
            readers = [i for i, k in enumerate(kernels) if not k.reads.isdisjoint(rider.stored)]
            hosts = [i for i in range(max(made, default=-1) + 1, min(readers, default=len(kernels)))
                     if i != at and kernels[i].matmul is None and math.prod(kernels[i].shape) > 0]
            if hosts:  # rather one with work of its own
                host = kernels[next((i for i in hosts if not kernels[i].is_rider), hosts[0])]
                host.riders += [rider] + rider.riders
                rider.riders = []
                del kernels[at]
        return kernels


def _splits_in_two(k: Kernel, parallelism: int) -> bool:
    """Whether a row kernel reduces in two stages: too few rows for the device, each long.
    A renderer may give one work-item ROWS_PER_ITEM neighbouring rows (one per vector
    lane), so even that many times the parallelism in rows can be too few."""
    groups = max(k.rows // ROWS_PER_ITEM, 1)
    return (k.is_reduction and len(k.reduce_phases) == 1 and not k.full_outputs() and k.matmul is None
            and groups <= parallelism and k.row_len >= MIN_SPLIT_ROW)


def _spreads_over_rows(view: Node, st: _Structure) -> bool:
    """A view of a row kernel's shape reading, at every row, its source's value for the
    position in the row loop: the source, flat, is a value per row position (the
    kernel's shape with its rows collapsed), spread over the rows with stride 0."""
    if view.op is not Op.VIEW or view.shape != st.shape or view.arg.mask is not None or view.arg.offset != 0:
        return False
    per_position = tuple(1 if d not in st.axes else size for d, size in enumerate(st.shape))
    if view.srcs[0].numel != math.prod(per_position):
        return False
    expected = View.contiguous(per_position).strides
    return all(view.arg.strides[d] == (0 if d not in st.axes else expected[d])
               for d, size in enumerate(st.shape) if size > 1)


def _merge_key(k: Kernel) -> tuple:
    """Kernels with equal keys iterate alike. A size-1 dim of a row kernel counts as
    reduced whether or not its reductions name it: the rows and each row's elements
    are the same either way (a loss summed over (0, 1) and a bias gradient summed
    over (0,) of the same (n, 1) values share a kernel)."""
    axes = tuple(d for d, s in enumerate(k.shape) if d in k.axes or (s == 1 and k.axes))
    return k.shape, axes, bool(k.full_outputs())


def _reads_off_rows(m: Node, hosted: frozenset, materialize) -> bool:
    """Whether m's fused work reads a hosted node (computed in the host kernel's row
    loop, so known there at its own row only) through a view that moves it to other
    rows: then m cannot join that kernel (t + t shifted, t computed from a reduction)."""
    stack, seen = [(m, False)], set()
    while stack:
        n, moved = stack.pop()
        if (n, moved) in seen:
            continue
        seen.add((n, moved))
        if n in hosted and moved:
            return True
        if n.is_realized or (n is not m and n in materialize and n not in hosted):
            continue
        moving = n.op is Op.VIEW and not reads_in_place(n)
        stack.extend((s, moved or moving) for s in n.srcs)
    return False


def expression_ops(source: Node, stored) -> int:
    """The elementwise ops and views a kernel evaluates to read `source` (up to buffers
    and the nodes in `stored`)."""
    def evaluated(n: Node) -> bool:
        return not n.is_realized and n not in stored and (n.op in ELEMENTWISE or n.op is Op.VIEW)
    return sum(1 for n in postorder([source], lambda n: n.srcs if evaluated(n) else ()) if evaluated(n))


def _cuts(targets: list[Node]) -> list[Node]:
    """Nodes stored to bound the work of a fused kernel: every MAX_FUSED_DEPTH-th op
    down long elementwise chains (views pass through), and elementwise nodes needed
    at more than one index, once their fused work reaches MAX_RECOMPUTED_WORK."""
    nodes = toposort(targets)
    needed_again = _needed_at_several_indices(nodes, targets)
    depth: dict[Node, int] = {}  # elementwise ops down the longest chain below
    work: dict[Node, int] = {}  # elementwise ops and moved reads per element when fused
    cuts = []
    for n in nodes:
        if n.op is Op.VIEW:  # a read elsewhere than in place is index arithmetic and a gather
            depth[n] = depth.get(n.srcs[0], 0)
            work[n] = work.get(n.srcs[0], 0) + (not reads_in_place(n))
        elif n.op in ELEMENTWISE:
            depth[n] = max((depth.get(s, 0) for s in n.srcs), default=0) + 1
            work[n] = 1 + sum(work.get(s, 0) for s in set(n.srcs))
            if depth[n] >= MAX_FUSED_DEPTH or (work[n] >= MAX_RECOMPUTED_WORK and n in needed_again):
                cuts.append(n)
                depth[n] = work[n] = 0
    return cuts


def _needed_at_several_indices(nodes: list[Node], targets: list[Node]) -> set[Node]:
    """Elementwise nodes whose values fused work reads at more than one index, at the
    point where those reads part: at each distinct chain of views between the node
    and the stored values computed from it (read directly and through a view, through
    different views, or below ops that are: a pool's index of each window's largest,
    read by its gradient at every position in the window), or through a view reading
    elements more than once. A node whose reads all pass through one elementwise
    consumer is left to that consumer (a stencil's sums are stored once per step,
    where the step's result is read, not at each partial sum)."""
    stored = set(targets)
    chains_of: dict[Node, set] = {}
    reread: set[Node] = set()
    consumers_reads: dict[Node, list] = {}  # what each elementwise consumer passes down
    needed = set()
    for n in reversed(nodes):  # each node after all that read it
        chains, again = chains_of.pop(n, set()), n in reread
        if n.op in ELEMENTWISE and (len(chains) > 1 or again) and (chains, again) not in consumers_reads.pop(n, []):
            needed.add(n)
        if n in stored or not (n.op in ELEMENTWISE or n.op is Op.VIEW):
            chains, again = {()}, False  # computed once, at its own index, where its sources are read
        if n.op is Op.VIEW and not reads_in_place(n):
            chains = {chain + (n,) for chain in chains}
            again = again or _reads_again(n)
        for src in n.srcs:
            below = chains_of.setdefault(src, set())
            if len(below) < MAX_READ_CHAINS:  # enough to know it is more than one
                below |= chains
            if again:
                reread.add(src)
            if n.op in ELEMENTWISE and n not in stored:
                consumers_reads.setdefault(src, []).append((chains, again))
    return needed


def _reads_again(view: Node) -> bool:
    """A view reading some of its source's elements more than once (overlapping windows):
    it reads more positions than the source has."""
    mask = view.arg.mask
    return (math.prod(hi - lo for lo, hi in mask) if mask is not None else view.numel) > view.srcs[0].numel


def _phases(reduces: list[Node], inputs: set[Node]) -> list[list[Node]]:
    """Group inline reductions by phase: a reduction runs after those its input reads."""
    if not reduces:
        return []
    inline = set(reduces)
    phase: dict[Node, int] = {}
    for n in toposort(reduces, stop=lambda n: n.is_realized or n in inputs):
        below = max((phase[s] for s in n.srcs if s in phase), default=-1)
        phase[n] = below + 1 if n in inline else below
        if phase[n] < 0:
            del phase[n]
    groups: list[list[Node]] = [[] for _ in range(max(phase[r] for r in reduces) + 1)]
    for r in reduces:
        groups[phase[r]].append(r)
    return [g for g in groups if g]
