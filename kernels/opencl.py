"""OpenCL C renderer: turns a scheduled Kernel into vectorised OpenCL C source.

PoCL does not vectorise across work-items, so each work-item computes W
lanes at once with OpenCL vector types (float8, double4, ...), and a scalar
copy of the same code handles the tail. An index into a node is tracked as
lanes `base + lane * step`, so a contiguous read becomes one vload, a
broadcast read one scalar load, and only reads through irregular views
gather lane by lane.
"""
from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass
from typing import Optional

from lazyfuse.runtime import dtypes, random_bits
from lazyfuse.runtime.dtypes import DType
from lazyfuse.runtime.graph import COMPARISON, ELEMENTWISE, UNARY, Node, Op, toposort
from lazyfuse.runtime.schedule import MAX_LANES, Kernel, expression_ops, is_flat_identity
from lazyfuse.runtime.view import View

from . import opencl_math
from .affine import Affine
from .common import ExpressionRenderer, extent, kernel_name, needs_divisor_sign, op_name, view_coordinates

# vectors of 256 bits (float8) where lanes hold rows: the scheduler sized those
# reductions for MAX_LANES lanes (and measured no faster with float16)
VECTOR_BYTES = 32
# OpenCL's widest vector type. Other kernels use the device's native vector width, up to
# this: 512 bits with AVX-512. Measured on PoCL's icelake build, interleaved, float16
# against float8: 8-op chain 14.2 -> 11.5 ms, softmax 4096x4096 10.8 -> 9.6 ms, layernorm
# 6.2 -> 5.3 ms, mean((x-y)**2) 3.29 -> 3.13 ms. (PoCL's znver3 build crashed LLVM on
# float16 in an earlier session; an AVX2 device's native vectors are 256 bits, float8.)
MOST_LANES = 16
# PoCL runs a work-group's work-items one after another on one core: groups of up
# to 256 work-items (measured a little faster than PoCL's choice), but never so
# large that there are fewer groups than the device has parallel slots
LOCAL_SIZE = 256
# outputs at least this large are written with nontemporal (cache-bypassing) stores:
# a plain store first reads the line it writes; measured here, x + y on 2^24 floats
# took 6.2 ms with plain stores and 4.3 ms with nontemporal ones. Half the L3, so
# smaller outputs stay cached for the kernel that reads them next. Pointwise kernels
# only: softmax's row kernel measured no faster with them.
STREAMING_STORE_BYTES = 16 << 20
# a work-item whose lanes hold rows walks its rows' elements one position per step, each
# step a short run of memory (a 256-byte row of x in x.T @ g) far from the last one's
# neighbours in other work-items: it prefetches (into every cache level) the lines it
# reads this many bytes ahead. Measured, interleaved: the 65536x64 training step
# 1670 -> 1504 us, x.T @ g alone 818 -> 751 us, a 2^18x64 column sum 2158 -> 1905 us
# (1 KiB ahead gained less, 4 KiB the same); prefetching past the caches
# (non-temporal) made the step slower, 1598 -> 2096 us: x then left the L3 between steps
PREFETCH_BYTES = 2048
CACHE_LINE_BYTES = 64
# A pointwise kernel reading an input through a transpose (stride 1 down its rows)
# lets TRANSPOSE_TILE_ROWS neighbouring rows' work-items run one after another,
# column block by column block: they read the same input lines while those are in
# L1. In row order every work-item's vector of W elements read W lines, each read
# again by the next row's work-item only after the whole row had passed through.
TRANSPOSE_TILE_ROWS = (64, 32, 16, 8)
# independent vector accumulators per reduction, at least (measured here: a 2^24 sum
# took 3.1 ms with four instead of 4.5 ms with one; STREAMS may ask for more), for
# bodies of fewer than UNROLLED_OPS elementwise ops and views: a longer body hides the
# adds' latency itself, and each unrolled copy is more source for PoCL to compile
REDUCE_UNROLL = 4
UNROLLED_OPS = 16
# a reduction's loop reads this many streams of memory at once, counted over its
# inputs: each work-item's part of a row is cut into stretches of at least
# MIN_STRETCH_BYTES, read side by side a cache line a step, which the cores'
# prefetchers follow as separate streams. Measured, interleaved, on 2^24 floats (parts
# of 1 MiB): sum 4.0-4.4 -> 3.3-3.5 ms with four stretches read a vector a step instead
# of one, and 3.65 -> 2.75 ms reading them a line a step; mean((x-y)**2) 8.1 -> 7.3 ms
# with two of each input (four: 7.5, eight: 8.7). Rows of 16 KiB (softmax, layernorm
# and a row sum of 4096x4096) measured the same either way, within 2 %.
STREAMS = 4
MIN_STRETCH_BYTES = 64 << 10

_CL_TYPE = {"bool": "char", "int32": "int", "int64": "long", "float16": "float", "float32": "float", "float64": "double"}
_INT_OF_SIZE = {1: "char", 2: "short", 4: "int", 8: "long"}
_UNARY_FN = {Op.EXP: "exp", Op.LOG: "log", Op.EXP2: "exp2", Op.LOG2: "log2", Op.SIN: "sin", Op.COS: "cos",
             Op.SQRT: "sqrt", Op.TANH: "tanh", Op.ERF: "erf", Op.ABS: "fabs"}
_INFIX = {Op.ADD: "+", Op.SUB: "-", Op.MUL: "*", Op.LT: "<", Op.LE: "<=", Op.EQ: "==", Op.NE: "!="}
_REDUCE_STEP = {Op.SUM: Op.ADD, Op.PROD: Op.MUL, Op.REDUCE_MAX: Op.MAX, Op.REDUCE_MIN: Op.MIN}


def register_type(dtype: DType) -> str:
    return _CL_TYPE[dtype.name]


def storage_type(dtype: DType) -> str:
    return "half" if dtype is dtypes.float16 else register_type(dtype)


def _in_stretch(stretch: int, offset: int) -> str:
    """The position `offset` elements into stretch number `stretch` of a row loop's
    step at r (stretches are `stretch` elements apart), as C."""
    terms = ["r"] + ([f"{stretch} * stretch" if stretch > 1 else "stretch"] if stretch else [])
    terms += [str(offset)] if offset else []
    return f"({' + '.join(terms)})" if len(terms) > 1 else "r"


def register_bytes(dtype: DType) -> int:
    return 4 if dtype is dtypes.float16 else dtype.itemsize


def literal(value, dtype: DType) -> str:
    if dtype is dtypes.bool_:
        return "(char)1" if value else "(char)0"
    if dtype.kind == "int":
        value = int(value)
        if dtype is dtypes.int64:
            return "(-9223372036854775807L-1)" if value == -(2**63) else f"{value}L"
        return "(-2147483647-1)" if value == -(2**31) else str(value)
    value = float(value)
    if math.isnan(value):
        text = "NAN"
    elif math.isinf(value):
        text = "INFINITY" if value > 0 else "(-INFINITY)"
    else:
        text = repr(value) + ("f" if register_type(dtype) == "float" else "")
    return f"(({register_type(dtype)}){text})" if text.startswith(("N", "I", "(")) else text


def reduce_identity(op: Op, dtype: DType) -> str:
    if op is Op.SUM:
        return literal(0, dtype)
    if op is Op.PROD:
        return literal(1, dtype)
    big = {"float": math.inf, "int": 2 ** (8 * dtype.itemsize - 1) - 1, "bool": 1}[dtype.kind]
    small = {"float": -math.inf, "int": -(2 ** (8 * dtype.itemsize - 1)), "bool": 0}[dtype.kind]
    return literal(small if op is Op.REDUCE_MAX else big, dtype)


@dataclass(frozen=True)
class Index:
    """Where the W lanes of a work-item read a node: `base + lane * step` for an
    int step (step 0: every lane reads base), or a vector of W positions when
    step is None. `aligned`: base is statically a multiple of W. `valid`: a
    condition (scalar or vector) outside which positions read as zero.
    `row`: on the element index of a row kernel, the row's index variable."""

    base: str
    step: Optional[int]
    aligned: bool = False
    valid: Optional[str] = None
    row: Optional[str] = None  # set on a row kernel's element index: the row being walked
    vector_valid: bool = False  # `valid` differs between lanes (a vector condition)
    lane_dim: Optional[int] = None  # lanes walk this dim of the kernel's shape (rows of a row kernel)
    affine: Optional[Affine] = None  # base as render-time arithmetic, when known (lane 0's position)


@dataclass
class RenderedKernel:
    name: str
    preamble: tuple[str, ...]  # pragmas and typedefs the kernel needs (kernels built together share them)
    body: str  # the kernel function
    args: list[Node]  # buffers in argument order: outputs first, then inputs
    global_size: int
    local_size: Optional[int]
    work_items: int

    @property
    def source(self) -> str:
        return "\n".join(self.preamble) + "\n" + self.body

    @property
    def argument_bytes(self) -> int:
        return sum(n.numel * n.dtype.itemsize for n in self.args)


class _Block:
    """Statements of one scope at one vector width, with common subexpressions shared.
    Blocks of one kernel share `names`, so no block's variable shadows another's."""

    def __init__(self, lanes: int, indent: str, names: "itertools.count"):
        self.lanes, self.indent, self.names = lanes, indent, names
        self.lines: list[str] = []
        self.cache: dict = {}

    def emit(self, line: str) -> None:
        self.lines.append(self.indent + line)

    def var(self, ctype: str, expr: str, prefix: str = "v") -> str:
        name = f"{prefix}{next(self.names)}"
        self.emit(f"{ctype} {name} = {expr};")
        return name


class OpenCLRenderer(ExpressionRenderer):
    def __init__(self, kernel: Kernel, parallelism: int, native_vector_bytes: int):
        super().__init__(kernel)
        self.parallelism = parallelism
        sizes = [math.prod(kernel.shape)] + [n.numel for n in kernel.outputs] + [extent(n) for n in kernel.inputs]
        self.itype = "int" if max(sizes) < 2**31 - 2 * MOST_LANES else "long"
        # every value in the kernel, index vectors included, must fit the vector width
        widest = max([register_bytes(n.dtype) for n in _kernel_nodes(kernel)] + [4 if self.itype == "int" else 8])
        self.lanes = min(MAX_LANES, VECTOR_BYTES // widest)
        # lane reductions need every row in one work-item's lanes (the scheduler checked they
        # fit); a tiled product lays out its own lanes
        self.lanes_across_rows = kernel.matmul is None and (bool(kernel.lane_reduces) or
                                                            self._rows_make_better_lanes())
        if not self.lanes_across_rows and kernel.matmul is None:
            self.lanes = min(MOST_LANES, max(self.lanes, native_vector_bytes // widest))
        # lanes across rows: vectors of rows per work-item, as many as divide the rows, up to a
        # 256-byte line of floats (a column sum then reads each input row whole)
        self.row_vectors = 1
        if self.lanes_across_rows:
            rows_along = kernel.shape[_lane_row_dim(kernel)]
            self.row_vectors = (rows_along // self.lanes if kernel.lane_reduces else
                                next(v for v in (8, 4, 2, 1) if rows_along % (v * self.lanes) == 0))
        self.args: dict[Node, str] = {}
        for o in kernel.stored:
            self.args[o] = f"out{len(self.args)}"
        self.names = itertools.count()
        self.typedefs: dict[str, str] = {}
        self.helpers: dict[str, str] = {}  # inline float math (kernels/opencl_math.py) by function name
        self.walking: Optional[str] = None  # the loop variable of a loop whose loads prefetch

    # ------------------------------------------------------------------ public
    def render(self) -> RenderedKernel:
        k = self.k
        full = k.full_outputs()
        for o in k.outputs:  # a wrong size here would write past a buffer
            expected = (math.prod(k.shape) if (o in full or not k.is_reduction) else
                        k.row_len if o in k.lane_reduces else k.rows * k.split)
            assert o.numel == expected, f"output {o} does not fit kernel over {k.shape} reducing {k.axes}"
        lines = self._row_kernel() if k.is_reduction else self._pointwise_kernel()
        lines = self._rider_lines() + lines  # rendered second, so the kernel is named after its own ops
        params = []
        for node, arg in self.args.items():
            const = "" if arg.startswith("out") else "const "
            params.append(f"__global {const}{storage_type(node.dtype)}* restrict {arg}")
        code = f"({', '.join(params)}) {{\n" + "\n".join(lines) + "\n}\n"
        name = kernel_name(k, self.ops_seen, code)
        preamble = ("#pragma OPENCL EXTENSION cl_khr_fp64 : enable", *self.typedefs.values(), *self.helpers.values())
        work_items = self._work_items()
        return RenderedKernel(name, preamble, f"__kernel void {name}{code}", list(self.args),
                              self._global_size(work_items), self._local_size(work_items), work_items)

    def _local_size(self, work_items: int) -> Optional[int]:
        return max(1, min(LOCAL_SIZE, work_items // self.parallelism)) if work_items > 0 else None

    def _global_size(self, work_items: int) -> int:
        """Whole work-groups covering the work-items: past the last one when it does not divide evenly."""
        local = self._local_size(work_items)
        return -(-work_items // local) * local if local else 0

    def _work_items(self) -> int:
        if self.k.is_reduction:
            rows = self.k.rows // (self.lanes * self.row_vectors) if self.lanes_across_rows else self.k.rows
            return rows * self.k.split
        return -(-math.prod(self.k.shape) // self.lanes)

    # --------------------------------------------------------------- kernels
    def _rider_lines(self) -> list[str]:
        """The riders (see Kernel.riders), computed by the first work-item."""
        if not self.k.riders:
            return []
        block = self._block(1, "    ")
        self.render_riders(block, Index("0", 0, aligned=True, affine=Affine()), self._store_outputs)
        return ["  if (get_global_id(0) == 0) {"] + block.lines + ["  }"]

    def _pointwise_kernel(self) -> list[str]:
        k, W, it = self.k, self.lanes, self.itype
        n = math.prod(k.shape)
        work_items = self._work_items()
        lines = [f"  const {it} gid = get_global_id(0);"]
        if self._global_size(work_items) > work_items:
            lines.append(f"  if (gid >= {work_items}) return;")
        tile_rows = self._transpose_tile_rows()
        if tile_rows:  # see TRANSPOSE_TILE_ROWS: gid runs over a tile's rows, then its column blocks, then tiles
            blocks = k.shape[-1] // W
            tile, row, block = f"(gid / {blocks * tile_rows})", f"(gid % {tile_rows})", f"(gid / {tile_rows} % {blocks})"
            lines.append(f"  const {it} base = ({tile} * {tile_rows} + {row}) * {k.shape[-1]} + {block} * {W};")
            tiles = n // k.shape[-1] // tile_rows
            affine = (Affine.of(tile, tiles, tile_rows * k.shape[-1]) + Affine.of(row, tile_rows, k.shape[-1])
                      + Affine.of(block, blocks, W))
        else:
            lines.append(f"  const {it} base = gid * {W};")
            affine = Affine.of("gid", -(-n // W), W)
        vec = self._block(W, "    ")
        self._store_outputs(vec, k.outputs, Index("base", 1, aligned=True, affine=affine))
        if W > 1 and n % W == 0:
            # every work-item's vector is whole: without the test and the scalar loop, the
            # 2-op chain on 2^24 floats took 8.9 ms instead of 9.6 (a hand-written kernel's 9.0)
            return lines + vec.lines
        scalar = self._block(1, "      ")
        self._store_outputs(scalar, k.outputs, Index("i", 0, aligned=True, affine=Affine.of("i", n)))
        if W > 1 and n >= W:
            lines += [f"  if (base + {W} <= {n}) {{"] + vec.lines + ["    return;", "  }"]
        lines += [f"  for ({it} i = base; i < min(base + {W}, ({it}){n}); i++) {{"] + scalar.lines + ["  }"]
        return lines

    def _transpose_tile_rows(self) -> int:
        """Rows per tile for a pointwise kernel reading an input through a transpose
        (see TRANSPOSE_TILE_ROWS), or 0 to run in row order."""
        k, W = self.k, self.lanes
        if W == 1 or len(k.shape) < 2 or k.shape[-1] % W:
            return 0
        transposed = any(n.op is Op.VIEW and n.shape == k.shape and n.arg.mask is None
                         and (n.srcs[0] in k.inputs or n.srcs[0].is_realized)
                         and n.arg.strides[-2] == 1 and n.arg.strides[-1] not in (0, 1) for n in _kernel_nodes(k))
        rows = math.prod(k.shape[:-1])
        return next((t for t in TRANSPOSE_TILE_ROWS if rows % t == 0), 0) if transposed else 0

    def _rows_make_better_lanes(self) -> bool:
        """Whether lanes should walk W neighbouring rows (each lane reducing its own
        row) instead of W elements of one row: chosen when the strides of the inputs
        (and of outputs written at every element) make that the cheaper access, as for a
        matmul's right operand or sum(dim=0)."""
        k, W = self.k, self.lanes
        row_dim = _lane_row_dim(k)
        if (W == 1 or not k.is_reduction or (k.split > 1 and (len(k.reduce_phases) > 1 or k.full_outputs()))
                or row_dim is None or k.shape[row_dim] % W or not k.axes):
            return False
        reduce_dim = k.axes[-1]

        def cost(stride: int) -> int:  # a broadcast or a vector load is one load; else one per lane
            return 1 if stride in (0, 1) else W
        along_row = across_rows = 0
        contiguous = View.contiguous(k.shape).strides
        for n in _kernel_nodes(k):
            if n.shape != k.shape:
                continue
            if n.op is Op.VIEW and (n.srcs[0] in k.inputs or n.srcs[0].is_realized) and n.arg.mask is None:
                strides = n.arg.strides
            elif n in k.inputs or n.is_realized:
                strides = contiguous
            else:
                continue
            along_row += cost(strides[reduce_dim])
            across_rows += cost(strides[row_dim])
        for _ in k.full_outputs():  # written at every element, in the kernel's own layout
            along_row += cost(contiguous[reduce_dim])
            across_rows += cost(contiguous[row_dim])
        return across_rows < along_row

    def _rows_as_lanes_kernel(self) -> list[str]:
        """Each work-item reduces V * W neighbouring rows, one per lane of V vectors
        (so it reads whole lines of a row-major input), walking their elements one at
        a time (or one of `split` chunks of them), a loop per phase of reductions (a
        later phase reads the earlier ones' results, vectors over the same rows: a
        batch norm's variance after its mean); the epilogue and stores are vectors
        over the rows, and outputs of the kernel's full shape (a batch norm's normalised
        values) are written by one more loop over the elements, vectors over the rows."""
        k, W, V, it = self.k, self.lanes, self.row_vectors, self.itype
        R, P = k.row_len, k.split
        chunk = -(-R // P)
        element_view = self._element_view()
        row_step = View.contiguous(k.shape).strides[_lane_row_dim(k)]
        lines = [f"  const {it} gid = get_global_id(0);", f"  if (gid >= {self._work_items()}) return;",
                 f"  const {it} rblock = gid / {P};", f"  const {it} row = rblock * {V * W};",
                 f"  const {it} r_begin = gid % {P} * {chunk};",
                 f"  const {it} r_end = min(r_begin + {chunk}, ({it}){R});"]
        accumulators = {}

        def row_indices(body: _Block) -> list[Index]:  # position r of the V vectors of rows
            indices = []
            for v in range(V):
                flat = Affine.of("rblock", k.rows // (V * W), V * W * R) + Affine.of("r", R) + v * W * R
                lane0 = self._view_scalar(body, Index(str(flat), 0, affine=flat), element_view.merged_dims(), 0, 0)
                indices.append(Index(lane0.base, row_step, lane_dim=_lane_row_dim(k), affine=lane0.affine))
            return indices
        for phase in k.reduce_phases:
            done = list(accumulators)
            for r in phase:
                self.ops_seen.append(op_name(r.op))
                t = register_type(r.dtype)
                accumulators[r] = [f"acc{len(self.accumulators) + len(accumulators)}_{v}" for v in range(V)]
                lines += [f"  {t}{W} {acc} = ({t}{W}){reduce_identity(r.op, r.dtype)};" for acc in accumulators[r]]
            body = self._block(W, "    ")
            self.walking = "r"
            indices = row_indices(body)
            self._lane_reductions(body, indices)
            for v, idx in enumerate(indices):
                for r in done:  # the earlier phases' results for these rows
                    self.accumulators[r] = accumulators[r][v]
                for r in phase:
                    acc = accumulators[r][v]
                    body.emit(f"{acc} = {self._reduce_step(body, r, acc, idx)};")
            self.walking = None
            lines += [f"  for ({it} r = r_begin; r < r_end; r++) {{"] + body.lines + ["  }"]
        full = k.full_outputs()
        if full:
            body = self._block(W, "    ")
            for v, idx in enumerate(row_indices(body)):
                for r in accumulators:
                    self.accumulators[r] = accumulators[r][v]
                self._store_outputs(body, full, idx)
            lines += [f"  for ({it} r = r_begin; r < r_end; r++) {{"] + body.lines + ["  }"]
        rest = [o for o in k.outputs if o not in k.lane_reduces and o not in full]
        for v in range(V):
            for r in accumulators:
                self.accumulators[r] = accumulators[r][v]
            if P > 1:  # partial results: one slot per (row, chunk)
                block = self._block(1, "  ")
                for o in rest:
                    for lane in range(W):
                        self._store_value(block, o, f"{self.accumulators[o.srcs[0]]}.s{lane:x}",
                                          Index(f"(row + {v * W + lane}) * {P} + gid % {P}", 0, aligned=True))
                lines += block.lines
            else:
                epilogue = self._block(W, "  ")
                self._store_outputs(epilogue, rest, Index(f"(row + {v * W})", 1, aligned=True))
                lines += epilogue.lines
        return lines

    def _lane_reductions(self, body: _Block, indices: list[Index]) -> None:
        """Each lane reduction at the loop's position r: its input at every row (the V
        vectors at `indices`, the same loads the kernel's own reductions make), folded
        across vectors and lanes; stored at r when it is an output, and spread over the
        lanes for what reads it."""
        W = body.lanes
        for r in self.k.lane_reduces:
            self.ops_seen.append(op_name(r.op))
            step, t = _REDUCE_STEP[r.op], register_type(r.dtype)
            total = self.value(body, r.srcs[0], indices[0])
            for idx in indices[1:]:
                total = body.var(f"{t}{W}", self._reduce_step(body, r, total, idx))
            scalar = self._fold_lanes(body, total, step, r.dtype, W)
            if r in self.k.outputs:
                store = self._block(1, body.indent)
                self._store_value(store, r, scalar, Index("r", 0, aligned=True))
                body.lines += store.lines
            self.accumulators[r] = body.var(f"{t}{W}", f"({t}{W})({scalar})")

    def _fold_lanes(self, block: _Block, vector: str, op: Op, dtype: DType, lanes: int) -> str:
        """The lanes of `vector` combined by `op`, half with half until one is left
        (three dependent steps for 8 lanes instead of eight: x @ w at 65536x64, rows
        of 64, took 205 us instead of 243, kernel alone, medians of 60)."""
        while lanes > 1:
            lanes //= 2
            vector = block.var(_vec(register_type(dtype), lanes),
                               self._binary(op, f"{vector}.lo", f"{vector}.hi", dtype, lanes))
        return vector

    def _row_kernel(self) -> list[str]:
        if self.lanes_across_rows:
            return self._rows_as_lanes_kernel()
        k, W, it = self.k, self.lanes, self.itype
        R, P = k.row_len, k.split
        chunk = -(-(-(-R // P)) // W) * W if P > 1 else R
        lines = [f"  const {it} gid = get_global_id(0);",
                 f"  if (gid >= {self._work_items()}) return;",
                 f"  const {it} row = gid / {P};" if P > 1 else f"  const {it} row = gid;",
                 f"  const {it} r_begin = (gid % {P}) * {chunk};" if P > 1 else f"  const {it} r_begin = 0;",
                 f"  const {it} r_end = min(({it}){R}, r_begin + {chunk});" if P > 1 else f"  const {it} r_end = {R};"]
        element_view = self._element_view()
        aligned = R % W == 0 and chunk % W == 0

        def element_index(block: _Block, var: str) -> Index:
            # a vector body runs while its W lanes fit: lane 0 is at most R - W
            position = Affine.of("row", k.rows, R) + Affine.of(var, R - block.lanes + 1)
            flat = Index(str(position), 0 if block.lanes == 1 else 1, aligned=aligned or block.lanes == 1,
                         affine=position)
            return dataclasses.replace(self._through_view(block, flat, element_view), row="row")

        full = k.full_outputs()
        keep = self._summand_to_keep(full)
        for i, phase in enumerate(k.reduce_phases):
            lines += self._reduce_phase(phase, element_index, keep if i == len(k.reduce_phases) - 1 else None)
        if keep:
            self.reloads[keep[0]] = keep[1]
        if full:
            lines += self._row_loop(lambda block, var, _: self._store_outputs(block, full, element_index(block, var)),
                                    "0", str(R))
        rest = [o for o in k.outputs if o not in full]
        if rest:
            block = self._block(1, "  ")
            if P > 1:
                for o in rest:  # partial results: one slot per (row, chunk)
                    self._store_value(block, o, self.accumulators[o.srcs[0]], Index("gid", 0, aligned=True))
            else:
                self._store_outputs(block, rest, Index("row", 0, aligned=True))
            lines += block.lines
        return lines

    def _block(self, lanes: int, indent: str) -> _Block:
        return _Block(lanes, indent, self.names)

    def _row_loop(self, fill, begin: str, end: str, unroll: int = 1, stretches: int = 1) -> list[str]:
        """Loops over a row's elements: `unroll` vectors per step (a reduction keeps
        one accumulator per unrolled vector, so the adds do not wait on each other),
        as many from each of `stretches` equal stretches of the row (see STREAMS), then
        one vector per step over what the stretches left, then scalars.
        `fill(block, position, copy)` writes one body. Per-row values the bodies read
        are computed once, before the loops."""
        W, it = self.lanes, self.itype
        self.row_block = self._block(1, "    ")
        lines = [f"  {it} r = {begin};"]
        if W > 1 and unroll > 1:
            step = unroll // stretches * W
            unrolled = self._block(W, "    ")
            for copy in range(unroll):
                fill(unrolled, _in_stretch(*divmod(copy * W, step)), copy)
            lines += [f"  const {it} stretch = ({end} - r) / {unroll * W} * {step};",
                      f"  for (; r < {begin} + stretch; r += {step}) {{"] + unrolled.lines + ["  }",
                      f"  r = {begin} + {stretches} * stretch;"]
        if W > 1:
            vec = self._block(W, "    ")
            fill(vec, "r", 0)
            lines += [f"  for (; r + {W} <= {end}; r += {W}) {{"] + vec.lines + ["  }"]
        scalar = self._block(1, "    ")
        fill(scalar, "r", 0)
        lines += [f"  for (; r < {end}; r++) {{"] + scalar.lines + ["  }"]
        lines = [line[2:] for line in self.row_block.lines] + lines
        self.row_block = None
        return ["  {"] + ["  " + line for line in lines] + ["  }"]

    def _summand_to_keep(self, full: list[Node]) -> Optional[tuple[Node, Node]]:
        """(summand, output) when a full output's expression contains what a
        last-phase reduction reduces, as softmax's exp(x - max) in exp(x - max) / sum:
        the reduction loop then stores it in the output's buffer and the output loop
        reads it back instead of computing it again (softmax: half the exps)."""
        if not full or self.k.split > 1:
            return None
        summands = {r.srcs[0] for r in self.k.reduce_phases[-1]}
        for o in full:
            if o.dtype is dtypes.float16:
                continue  # the buffer would round the summand
            stack, seen = [o], set()
            while stack:
                n = stack.pop()
                if n in seen or n in self.k.inputs or n.is_realized:
                    continue
                seen.add(n)
                if n in summands and n.dtype == o.dtype and n is not o:
                    return n, o
                if n.op in ELEMENTWISE or (n.op is Op.VIEW and is_flat_identity(n)):
                    stack.extend(n.srcs)
        return None

    def _reduce_phase(self, phase: list[Node], element_index, keep=None) -> list[str]:
        W = self.lanes
        body = sum(expression_ops(r.srcs[0], self.k.inputs) for r in phase)
        unroll, stretches = 1, 1
        if self.k.row_len >= REDUCE_UNROLL * W * 4 and body < UNROLLED_OPS:
            # each stretch is read a cache line a step
            stretches = self._stretches(phase, keep is not None)
            line_vectors = max(1, CACHE_LINE_BYTES // (W * register_bytes(phase[0].srcs[0].dtype)))
            unroll = max(REDUCE_UNROLL, stretches * line_vectors)
        lines = []
        for r in phase:
            self.ops_seen.append(op_name(r.op))
            t = register_type(r.dtype)
            acc = f"acc{len(self.accumulators)}"
            ident = reduce_identity(r.op, r.dtype)
            lines += [f"  {t} {acc} = {ident};"]
            if W > 1:
                lines += [f"  {t}{W} {acc}_v{copy} = ({t}{W}){ident};" for copy in range(unroll)]
            self.accumulators[r] = acc

        def fill(block: _Block, position: str, copy: int):
            idx = element_index(block, position)
            for r in phase:
                acc = self.accumulators[r] + (f"_v{copy}" if block.lanes > 1 else "")
                if keep and r.srcs[0] is keep[0]:
                    value = self.value(block, r.srcs[0], idx)
                    if ("kept", idx) not in block.cache:
                        block.cache[("kept", idx)] = True
                        self._store_value(block, keep[1], value, idx)
                    block.emit(f"{acc} = {self._binary(_REDUCE_STEP[r.op], acc, value, r.dtype, block.lanes)};")
                else:
                    block.emit(f"{acc} = {self._reduce_step(block, r, acc, idx)};")

        lines += self._row_loop(fill, "r_begin", "r_end", unroll, stretches)
        if W > 1:  # fold the unrolled accumulators, then the lanes, into the scalar accumulator
            for r in phase:
                acc, step = self.accumulators[r], _REDUCE_STEP[r.op]
                lines += [f"  {acc}_v0 = {self._binary(step, f'{acc}_v0', f'{acc}_v{copy}', r.dtype, W)};"
                          for copy in range(1, unroll)]
                fold = self._block(1, "  ")
                lanes = self._fold_lanes(fold, f"{acc}_v0", step, r.dtype, W)
                fold.emit(f"{acc} = {self._binary(step, acc, lanes, r.dtype, 1)};")
                lines += fold.lines
        return lines

    def _stretches(self, phase: list[Node], stores: bool) -> int:
        """How many stretches of its part of a row each work-item's loop over the
        phase reads at once (see STREAMS): its inputs as large as what it reduces,
        and what it `stores`, each stream from every stretch."""
        k = self.k
        size = k.rows * k.row_len
        read = toposort([r.srcs[0] for r in phase], stop=lambda n: n in k.inputs)
        streams = sum(1 for n in read if n in k.inputs and n.numel >= size) + stores
        part_bytes = -(-k.row_len // k.split) * max(r.srcs[0].dtype.itemsize for r in phase)
        stretches = 1
        while stretches * 2 * max(streams, 1) <= STREAMS and part_bytes // (stretches * 2) >= MIN_STRETCH_BYTES:
            stretches *= 2
        return stretches

    def _reduce_step(self, block: _Block, r: Node, acc: str, idx: Index) -> str:
        """acc combined with r's input at idx. A float sum of products is written
        a * b + acc, one expression, which the compiler contracts to a fused
        multiply-add (an fma() call is not inlined by PoCL); measured on the kernel
        computing x @ w and x.T @ g of a 65536x64 step: 592-632 us as a multiply and
        an add, 537-581 us contracted."""
        src = self.k.replace.get(r.srcs[0], r.srcs[0])
        if (r.op is Op.SUM and src.op is Op.MUL and r.dtype.kind == "float" and src not in self.k.inputs
                and not src.is_realized and src not in self.accumulators and src not in self.reloads):
            a, b = (self.value(block, s, idx) for s in src.srcs)
            return f"({a} * {b} + {acc})"
        return self._binary(_REDUCE_STEP[r.op], acc, self.value(block, r.srcs[0], idx), r.dtype, block.lanes)

    def _store_outputs(self, block: _Block, outputs: list[Node], idx: Index) -> None:
        for o in outputs:
            streaming = not self.k.is_reduction and o.numel * o.dtype.itemsize >= STREAMING_STORE_BYTES
            self._store_value(block, o, self.value(block, o, idx), idx, streaming)

    def _store_value(self, block: _Block, o: Node, value: str, idx: Index, streaming: bool = False) -> None:
        """Store lanes of `o`; `streaming`: an output too large to stay in cache, written
        around the cache when the position is vector-aligned (nontemporal stores need it)."""
        ptr = self.args[o]
        if block.lanes == 1:
            store = f"vstore_half({value}, {idx.base}, {ptr})" if o.dtype is dtypes.float16 else f"{ptr}[{idx.base}] = {value}"
            block.emit(store + ";")
        elif idx.step == 1:
            if o.dtype is dtypes.float16:
                block.emit(f"vstore_half{block.lanes}({value}, 0, {ptr} + {idx.base});")
            elif streaming and idx.aligned:
                vector = f"__global {_vec(register_type(o.dtype), block.lanes)}*"
                block.emit(f"__builtin_nontemporal_store({value}, ({vector})({ptr} + {idx.base}));")
            else:
                block.emit(f"*({self._unaligned(o.dtype, block.lanes)}*)({ptr} + {idx.base}) = {value};")
        else:
            positions = self._vector_index(block, idx)
            # as a vector variable: the value may be one per row (a scalar), as an
            # expanded reduction is, which has no lanes to pick
            vector = block.var(_vec(register_type(o.dtype), block.lanes), value)
            for lane in range(block.lanes):
                pos, val = f"{positions}.s{lane:x}", f"{vector}.s{lane:x}"
                block.emit(f"vstore_half({val}, {pos}, {ptr});" if o.dtype is dtypes.float16 else f"{ptr}[{pos}] = {val};")

    # --------------------------------------------------------------- indices
    def _vector_index(self, block: _Block, idx: Index) -> str:
        if idx.step is None:
            return idx.base
        key = ("lanes", idx.base, idx.step)
        if key not in block.cache:
            lanes = ", ".join(str(i * idx.step) for i in range(block.lanes))
            block.cache[key] = block.var(f"{self.itype}{block.lanes}", f"({idx.base}) + ({self.itype}{block.lanes})({lanes})", "i")
        return block.cache[key]

    def _through_view(self, block: _Block, idx: Index, view: View) -> Index:
        """The index into a view's source for lanes at `idx` of the view."""
        W = block.lanes
        if view.is_flat_shift:
            base = idx.base if view.offset == 0 else f"({idx.base} + {view.offset})"
            affine = idx.affine + view.offset if idx.affine is not None else None
            return Index(base, idx.step, idx.aligned and view.offset % W == 0, idx.valid, vector_valid=idx.vector_valid,
                         affine=affine)
        dims = view.merged_dims()
        inner_size, inner_stride, inner_mask = dims[-1] if dims else (1, 0, (0, 1))
        if idx.lane_dim is not None and W > 1 and view.shape == self.k.shape and (
                view.mask is None or view.mask[idx.lane_dim] == (0, view.shape[idx.lane_dim])):
            # lanes walk one dim of this view: its stride is the step between them
            lane0 = self._view_scalar(block, Index(idx.base, 0, valid=idx.valid, affine=idx.affine), dims, view.offset, 0)
            return Index(lane0.base, view.strides[idx.lane_dim], False, lane0.valid, affine=lane0.affine)
        if idx.step == 0 or W == 1:
            return self._view_scalar(block, idx, dims, view.offset, idx.step)
        if idx.step == 1 and idx.aligned and inner_size % W == 0 and inner_mask == (0, inner_size):
            lane0 = self._view_scalar(block, Index(idx.base, 0, valid=idx.valid, vector_valid=idx.vector_valid,
                                                   affine=idx.affine), dims, view.offset, 0)
            aligned = inner_stride == 1 and view.offset % W == 0 and all(st % W == 0 for _, st, _ in dims[:-1])
            return Index(lane0.base, inner_stride, aligned, lane0.valid, vector_valid=lane0.vector_valid,
                         affine=lane0.affine)
        if idx.step is not None and idx.step > 0 and idx.affine is not None:
            walked = self._lanes_within_dim(block, idx, dims, view.offset)
            if walked is not None:
                return walked
        vector = Index(self._vector_index(block, idx), None, valid=idx.valid, vector_valid=idx.vector_valid)
        return self._view_scalar(block, vector, dims, view.offset, None)

    def _lanes_within_dim(self, block: _Block, idx: Index, dims, offset: int) -> Optional[Index]:
        """Lanes `step` apart that move along one dim of the view only: the step is a
        whole number of that dim's positions, and lane 0's coordinate along it (known
        from idx.affine) leaves room for every lane. The lanes then read lane 0's
        position plus a multiple of that dim's stride, with no division per lane, and
        where no boundary of the dim's mask falls between two lanes, under lane 0's
        condition (a piece of a concatenation read through its padding: a GRU's gradient
        of its gate chunks, 60 pieces, 9-12 -> 1.2-1.5 ms). None when no dim is so walked."""
        W, inner = block.lanes, 1
        for d in reversed(range(len(dims))):
            size, stride, (lo, hi) = dims[d]
            if idx.step % inner == 0 and idx.step < inner * size:
                break
            inner *= size
        else:
            return None
        per_lane = idx.step // inner
        if all(st == 0 and valid == (0, n) for n, st, valid in dims[:d + 1]):
            # lanes move along broadcast dims only (a column's value read down the column
            # by a column reduction): each reads lane 0's element, carries included
            lane0 = self._view_affine(block, Index(idx.base, 0, valid=idx.valid, vector_valid=idx.vector_valid,
                                                   affine=idx.affine), dims, offset, 0)
            return Index(lane0.base, 0, False, lane0.valid, vector_valid=lane0.vector_valid, affine=lane0.affine)
        span = (W - 1) * per_lane
        coord = idx.affine.divmod(inner)[0]
        if d > 0:
            coord = coord.divmod(size)[1]
        if coord.high + span >= size:
            return None
        # lane 0's coordinate is its constant plus multiples of `every`: a boundary b falls
        # between two lanes' coordinates only if b - coordinate can be in [1, span]
        every = math.gcd(*(c for _, c, _ in coord.terms))

        def between_lanes(b: int) -> bool:
            if coord.high + span < b or coord.low >= b:
                return False
            return every <= span or 0 < (b - coord.constant) % every <= span
        uniform = not between_lanes(lo) and not between_lanes(hi)
        walked = dims[:d] + [(size, stride, (lo, hi) if uniform else (0, size))] + dims[d + 1:]
        lane0 = self._view_affine(block, Index(idx.base, 0, valid=idx.valid, vector_valid=idx.vector_valid,
                                               affine=idx.affine), walked, offset, 0)
        step = per_lane * stride
        if uniform:  # lane 0's condition holds for every lane
            aligned = step == 1 and all(c % W == 0 for _, c, _ in lane0.affine.terms) and lane0.affine.constant % W == 0
            return Index(lane0.base, step, aligned, lane0.valid, vector_valid=lane0.vector_valid, affine=lane0.affine)
        # lanes on either side of a boundary: each lane's position and condition
        vector = f"{self.itype}{W}"
        lanes = ", ".join(str(i * per_lane) for i in range(W))
        along = block.var(vector, f"({vector})({coord}) + ({vector})({lanes})", "i")
        checks = ([f"{along} >= {lo}"] if coord.low < lo else []) + ([f"{along} < {hi}"] if coord.high + span >= hi else [])
        inside = block.var(vector, " && ".join(checks), "m")
        valid = inside if lane0.valid is None else f"({lane0.valid} && {inside})"
        return Index(self._vector_index(block, Index(lane0.base, step)), None, False, valid, vector_valid=True)

    def _view_scalar(self, block: _Block, idx: Index, dims, offset: int, step) -> Index:
        """Apply strides and masks to the (scalar or vector) flat position idx.base."""
        if idx.affine is not None and step is not None:
            return self._view_affine(block, idx, dims, offset, step)
        key = ("view", idx.base, tuple(dims), offset)
        if key in block.cache:
            base, valid = block.cache[key]
        else:
            itype, vector = self._itype(block, step), step is None and block.lanes > 1
            flat = idx.base
            if len(dims) > 1:
                # the coordinates of a flat position (never negative where it is read) by
                # unsigned division: a vector of signed divisions by constants costs a fifth
                # more, in fixing up signs (measured on an im2col copy); the sum wraps as
                # signed arithmetic would, and is read back as signed
                flat = block.var(f"u{itype}", f"as_u{itype}({flat})" if vector else f"(u{itype})({flat})", "u")
            elif step is None:
                flat = block.var(itype, flat, "i")
            terms = [str(offset)] if offset else []
            conds = []
            for coord, stride, (lo, hi), size in view_coordinates(flat, dims, "/"):
                if stride:
                    terms.append(coord if stride == 1 else f"{coord} * {stride}")
                if (lo, hi) != (0, size):
                    conds.append(f"({coord} >= {lo} && {coord} < {hi})" if lo > 0 else f"({coord} < {hi})")
            total = " + ".join(terms) or "0"
            if len(dims) > 1:  # (as a vector first: with no coordinate in it, the sum is a scalar)
                total = f"as_{itype}({block.var(f'u{itype}', total, 'u')})" if vector else f"({itype})({total})"
            base = block.var(itype, total, "i")
            valid = " && ".join(conds) if conds else None
            if valid is not None:
                valid = block.var(self._itype(block, step), valid, "m")
            block.cache[key] = (base, valid)
        vector_valid = idx.vector_valid or (valid is not None and step is None and block.lanes > 1)
        if idx.valid and valid:
            valid = f"({idx.valid} && {valid})"
        return Index(base, step, False, valid or idx.valid, vector_valid=vector_valid)

    def _view_affine(self, block: _Block, idx: Index, dims, offset: int, step) -> Index:
        """_view_scalar for a position known as render-time arithmetic: coordinates are
        split off without division where they can be, and mask conditions that the
        bounds already prove are left out."""
        position, conds, div = Affine(constant=offset), [], 1
        for d, (size, stride, (lo, hi)) in reversed(list(enumerate(dims))):
            coord = idx.affine.divmod(div)[0]
            if d > 0:
                coord = coord.divmod(size)[1]
            div *= size
            position = position + coord.scale(stride)
            checks = ([f"{coord} >= {lo}"] if coord.low < lo else []) + ([f"{coord} < {hi}"] if coord.high >= hi else [])
            if checks:
                conds.append(f"({' && '.join(checks)})")
        base = self._named(block, str(position), step, "i")
        valid = self._named(block, " && ".join(conds), step, "m") if conds else None
        if idx.valid and valid:
            valid = f"({idx.valid} && {valid})"
        return Index(base, step, False, valid or idx.valid, vector_valid=idx.vector_valid, affine=position)

    def _named(self, block: _Block, expr: str, step, prefix: str) -> str:
        """A variable holding the integer expression (one per distinct expression in a block)."""
        if expr.isidentifier() or expr.lstrip("-").isdigit():
            return expr
        key = ("named", expr)
        if key not in block.cache:
            block.cache[key] = block.var(self._itype(block, step), expr, prefix)
        return block.cache[key]

    def _itype(self, block: _Block, step) -> str:
        return self.itype if step is not None or block.lanes == 1 else f"{self.itype}{block.lanes}"

    # --------------------------------------------------------------- values
    def _constant(self, block: _Block, node: Node) -> str:
        lit = literal(node.arg, node.dtype)  # a vector literal, so vector builtins get vector arguments
        return lit if block.lanes == 1 else f"(({_vec(register_type(node.dtype), block.lanes)})({lit}))"

    def _row_index(self, idx: Index) -> Index:
        return Index(idx.row, 0, aligned=True)

    def _zero_outside(self, block: _Block, node: Node, value: str, idx: Index) -> str:
        return block.var(_vec(register_type(node.dtype), block.lanes),
                         self._select(idx.valid, value, literal(0, node.dtype), node.dtype, block.lanes,
                                      idx.vector_valid))

    def _compute(self, block: _Block, node: Node, srcs: list[str]) -> str:
        if srcs and all(self._per_row(block, s) for s in srcs):
            # work on values computed once per row is computed once per row too: a
            # comparison of two such scalars in a vector block gave a scalar that
            # convert_charN could not take (the kernel failed to build)
            key = ("per row", node)
            if key not in self.row_block.cache:
                self.row_block.cache[key] = self._compute(self.row_block, node, srcs)
            return self.row_block.cache[key]
        if node.op is Op.DIV and node.dtype.kind == "float" and self._per_row(block, srcs[1]):
            # dividing a row by one of its row's values (softmax's sum): multiply by the
            # reciprocal, computed once per row, as PyTorch's softmax does (a division
            # costs several multiplies)
            key = ("reciprocal", srcs[1])
            if key not in self.row_block.cache:
                self.row_block.cache[key] = self.row_block.var(
                    register_type(node.dtype), f"{literal(1, node.dtype)} / {srcs[1]}")
            return block.var(_vec(register_type(node.dtype), block.lanes), f"({srcs[0]} * {self.row_block.cache[key]})")
        if node.op in (Op.FLOORDIV, Op.MOD) and node.dtype.kind == "float":
            return self._float_floor_div_mod(block, node.op, *srcs, node.dtype)
        if node.op is Op.WHERE and self._per_row(block, srcs[0]):
            # a condition computed once per row is a scalar, which picks a whole vector (converting
            # it for select() as a vector was ambiguous: the kernel failed to build)
            return block.var(_vec(register_type(node.dtype), block.lanes),
                             self._select(srcs[0], srcs[1], srcs[2], node.dtype, block.lanes, vector_cond=False))
        result = block.var(_vec(register_type(node.dtype), block.lanes), self._elementwise(node, srcs, block.lanes))
        return self._round_to_half(block, result) if node.op is Op.CAST and node.dtype is dtypes.float16 else result

    def _random(self, block: _Block, node: Node, counter: str, idx: Index) -> str:
        W = block.lanes
        ulong = _vec("ulong", W)
        if W == 1:
            positions, counter, widen = idx.base, f"as_ulong({counter})", "(ulong)"
        else:  # the counter is a vector of W copies (a broadcast load)
            positions, counter, widen = self._vector_index(block, idx), f"as_{ulong}({counter})", f"convert_{ulong}"
        z = block.var(ulong, f"({counter} + {widen}({positions})) * {random_bits.GAMMA:#x}UL", "r")
        for shift, multiplier in random_bits.MIX_ROUNDS:
            z = block.var(ulong, f"({z} ^ ({z} >> {shift})) * {multiplier:#x}UL", "r")
        z = block.var(ulong, f"{z} ^ ({z} >> {random_bits.FINAL_SHIFT})", "r")
        bits, real = random_bits.significand_bits(node.dtype), register_type(node.dtype)
        to_real = f"convert_{_vec(real, W)}" if W > 1 else f"({real})"
        return block.var(_vec(real, W), f"{to_real}({z} >> {64 - bits}) * {literal(2.0 ** -bits, node.dtype)}")

    def _position(self, block: _Block, node: Node, idx: Index) -> str:
        W, real = block.lanes, register_type(node.dtype)
        if W == 1:
            return block.var(real, f"({real})({idx.base})")
        return block.var(_vec(real, W), f"convert_{_vec(real, W)}({self._vector_index(block, idx)})")

    def _per_row(self, block: _Block, value: str) -> bool:
        """Whether `value`, read in a row loop's block, is computed once per row before the loops."""
        return self.row_block is not None and block is not self.row_block and value in self.row_block.cache.values()

    def _round_to_half(self, block: _Block, value: str) -> str:
        """float16 values live in float registers: round through a half store, as a cast must."""
        W = block.lanes
        scratch = f"{value}_half"
        block.emit(f"ushort {scratch}[{W}];")  # without cl_khr_fp16 only pointers to half may be declared
        block.emit(f"vstore_half{W if W > 1 else ''}({value}, 0, (half*){scratch});")
        return block.var(_vec("float", W), f"vload_half{W if W > 1 else ''}(0, (half*){scratch})")

    def _load(self, block: _Block, node: Node, idx: Index) -> str:
        if node not in self.args:
            self.args[node] = f"in{len(self.args)}"
        ptr, W = self.args[node], block.lanes
        half = node.dtype is dtypes.float16
        t = _vec(register_type(node.dtype), W)
        base = idx.base
        if idx.valid:  # clamp positions outside the view's mask to 0, a readable address
            zero = f"({self._itype(block, idx.step)})0"
            clamped = f"(({idx.valid}) ? {base} : {zero})" if idx.vector_valid else f"({idx.valid}) ? {base} : 0"
            base = block.var(self._itype(block, idx.step), clamped, "i")
        ahead = self._prefetch_ahead(idx, node.dtype)
        if ahead:
            block.emit(f"__builtin_prefetch({ptr} + {base} + {ahead}, 0, 3);")
        if idx.step == 0 or W == 1:
            expr = f"vload_half({base}, {ptr})" if half else f"{ptr}[{base}]"
        elif idx.step == 1:
            expr = (f"vload_half{W}(0, {ptr} + {base})" if half
                    else f"*(const {self._unaligned(node.dtype, W)}*)({ptr} + {base})")
        else:
            positions = self._vector_index(block, Index(base, idx.step))
            lanes = [f"vload_half({positions}.s{i:x}, {ptr})" if half else f"{ptr}[{positions}.s{i:x}]" for i in range(W)]
            expr = f"({t})({', '.join(lanes)})"
        value = block.var(t, expr)
        if idx.valid:
            value = block.var(t, self._select(idx.valid, value, literal(0, node.dtype), node.dtype, W, idx.vector_valid))
        return value

    def _gather(self, block: _Block, node: Node, positions: str) -> str:
        W = block.lanes
        index_type = _vec(self.itype, W)
        base = block.var(index_type, f"convert_{index_type}({positions})" if W > 1 else f"({self.itype})({positions})", "i")
        return self._load(block, node, Index(base, None if W > 1 else 0))

    def _prefetch_ahead(self, idx: Index, dtype: DType) -> int:
        """How many elements past idx a load prefetches (0: none): PREFETCH_BYTES ahead in
        a loop walking rows whose steps are a cache line or more apart, once per line."""
        if self.walking is None or idx.affine is None:
            return 0
        step = next((c for e, c, _ in idx.affine.terms if e == self.walking), 0)
        step_bytes = step * dtype.itemsize
        if step_bytes < CACHE_LINE_BYTES or idx.affine.constant * dtype.itemsize % CACHE_LINE_BYTES:
            return 0
        return -(-PREFETCH_BYTES // step_bytes) * step

    def _unaligned(self, dtype: DType, lanes: int) -> str:
        """A global vector type with its element's alignment. PoCL calls vloadN and
        vstoreN out of line, spilling every live vector around the call (measured:
        a register-blocked matmul ran at a third of its speed); a dereference of
        this type is one unaligned vector move."""
        name = f"{register_type(dtype)}{lanes}_unaligned"
        self.typedefs[name] = (f"typedef {register_type(dtype)} {name} __attribute__((ext_vector_type({lanes}), "
                               f"aligned({dtype.itemsize})));")
        return f"__global {name}"

    def _select(self, cond: str, a: str, b: str, dtype: DType, lanes: int, vector_cond: bool = True,
                is_mask: bool = False) -> str:
        """cond ? a : b, lane by lane; cond holds nonzero for true. `is_mask`: cond is a
        comparison of values of `dtype` (all bits set where true, lanes as wide as a's),
        which a vector ?: takes as it is; other conditions are converted to such a
        mask first. Not select(): PoCL calls it out of line (a softmax's row max took
        12.3 ms with it and 11.7 ms with ?: on the comparison; a relu on 8 floats ~11
        cycles more than with ?: on the converted mask, whose convert_ is inline)."""
        if lanes == 1 or not vector_cond:
            return f"(({cond}) ? {a} : {b})"
        itype, t = _INT_OF_SIZE[register_bytes(dtype)], _vec(register_type(dtype), lanes)
        if is_mask:
            return f"(({cond}) ? ({t})({a}) : ({t})({b}))"
        return f"((convert_{itype}{lanes}({cond}) != ({itype})0) ? ({t})({a}) : ({t})({b}))"

    def _elementwise(self, node: Node, srcs: list[str], lanes: int) -> str:
        op = node.op
        if op is Op.WHERE:
            return self._select(srcs[0], srcs[1], srcs[2], node.dtype, lanes)
        if op in UNARY:
            return self._unary(op, srcs[0], node.srcs[0].dtype, node.dtype, lanes)
        src_dtype = node.srcs[0].dtype
        if op is Op.POW and src_dtype.kind == "float" and node.srcs[1].op is Op.CONST:
            power = self._constant_power(srcs[0], node.srcs[1].arg, src_dtype, lanes)
            if power is not None:
                return power
        expr = self._binary(op, srcs[0], srcs[1], src_dtype, lanes)
        return self._bool(expr, lanes) if op in COMPARISON else expr

    def _bool(self, comparison: str, lanes: int) -> str:
        """A comparison's result (-1 per true lane for vectors, 1 for scalars) as 0/1 chars."""
        return f"(convert_char{lanes if lanes > 1 else ''}({comparison}) & (char)1)"

    def _unary(self, op: Op, a: str, src: DType, dst: DType, lanes: int) -> str:
        t = _vec(register_type(dst), lanes)
        if op is Op.CAST:
            if dst is dtypes.bool_:
                return self._bool(f"{a} != {literal(0, src)}", lanes)
            return f"convert_{t}({a})"
        if op is Op.NEG:
            return f"(-{a})"
        if op is Op.NOT:
            return f"({a} ^ (char)1)"
        if op is Op.RECIP:
            return f"({literal(1, dst)} / {a})"
        if op is Op.ABS and dst.kind != "float":
            return self._select(f"{a} < 0", f"(-{a})", a, dst, lanes, is_mask=True)
        name = "exp" if op is Op.SIGMOID else _UNARY_FN[op]
        if register_type(dst) == "float" and name in opencl_math.INLINE:
            name = self._float_helper(name, lanes)
        if op is Op.SIGMOID:  # exp(-a) overflows to inf below -88 (float): 1 / inf is the 0 wanted
            return f"({literal(1, dst)} / ({literal(1, dst)} + {name}(-{a})))"
        return f"{name}({a})"

    def _constant_power(self, a: str, exponent, dtype: DType, lanes: int) -> Optional[str]:
        """a ** exponent for the exponents PyTorch's pow kernel computes otherwise
        (products, a square root, reciprocals: its results), None for others; pow()
        took ~450 cycles a float8 on PoCL. (x ** 2 is recorded as x * x.)"""
        one = literal(1, dtype)
        if exponent == 3:
            return f"({a} * {a} * {a})"
        if exponent == -1:
            return f"({one} / {a})"
        if exponent == -2:
            return f"({one} / ({a} * {a}))"
        if exponent in (0.5, -0.5):
            root = self._unary(Op.SQRT, a, dtype, dtype, lanes)
            return root if exponent == 0.5 else f"({one} / {root})"
        return None

    def _float_helper(self, name: str, lanes: int) -> str:
        """The name of the inline form of float `name` for `lanes` (kernels/opencl_math.py),
        its definition added to the preamble."""
        definitions = opencl_math.float_helper(name, lanes)
        self.helpers.update(definitions)
        return list(definitions)[-1]

    def _binary(self, op: Op, a: str, b: str, dtype: DType, lanes: int) -> str:
        """a op b for operands of `dtype` (the result of a comparison is rendered by the caller)."""
        is_float = dtype.kind == "float"
        if op in _INFIX:
            return f"({a} {_INFIX[op]} {b})"
        if op is Op.DIV:
            return f"({a} / {b})"
        if op in (Op.MAX, Op.MIN):
            if not is_float:
                return f"{'max' if op is Op.MAX else 'min'}({a}, {b})"
            # PyTorch propagates NaN, which fmax ignores: a where it wins or is NaN, else b
            # (NaN when b is). One compare and one NaN test instead of fmax with a NaN test
            # of each side: a 4096x4096 row max took 7.4 ms with those
            wins = ">" if op is Op.MAX else "<"
            return self._select(f"({a} {wins} {b}) | ({a} != {a})", a, b, dtype, lanes, is_mask=True)
        if op is Op.POW:
            if is_float:
                return f"pow({a}, {b})"
            t = _vec(register_type(dtype), lanes)
            d = _vec("double", lanes)
            power = f"convert_{t}_rte(pow(convert_{d}({a}), convert_{d}({b})))"
            # a negative power of an integer other than 1 and -1 is 0, as in PyTorch (0 ** -1 is inf in doubles)
            zero = literal(0, dtype)
            return self._select(f"({b} < {zero}) & ({a} != {literal(1, dtype)}) & ({a} != {literal(-1, dtype)})",
                                zero, power, dtype, lanes, is_mask=True)
        if op in (Op.FLOORDIV, Op.MOD):
            return self._floor_div_mod(op, a, b, dtype, lanes)
        raise AssertionError(f"no OpenCL rendering for {op}")

    def _float_floor_div_mod(self, block: _Block, op: Op, a: str, b: str, dtype: DType) -> str:
        """Python's and PyTorch's // and % on floats, from the exact fmod: floor(a / b)
        is one too many where a / b rounds up to an integer (1.0 // 0.1 is 9.0)."""
        W, t = block.lanes, _vec(register_type(dtype), block.lanes)
        zero, one = literal(0, dtype), literal(1, dtype)
        a, b = (block.var(t, f"({t})({x})") for x in (a, b))  # one may be a row's scalar
        rem = block.var(t, self._fmod(a, b, dtype, W))
        fix = needs_divisor_sign(rem, b)
        if op is Op.MOD:
            return block.var(t, self._select(fix, f"({rem} + {b})", rem, dtype, W, is_mask=True))
        quotient = block.var(t, f"({a} - {rem}) / {b}")  # an integer, up to rounding
        quotient = block.var(t, self._select(fix, f"({quotient} - {one})", quotient, dtype, W, is_mask=True))
        floor = block.var(t, f"floor({quotient})")
        result = self._select(f"{quotient} - {floor} > {literal(0.5, dtype)}", f"({floor} + {one})", floor, dtype, W,
                              is_mask=True)
        result = self._select(f"{quotient} != {zero}", result, f"copysign(({t})({zero}), {a} / {b})", dtype, W,
                              is_mask=True)
        return block.var(t, self._select(f"{b} == {zero}", f"({a} / {b})", result, dtype, W, is_mask=True))

    def _fmod(self, a: str, b: str, dtype: DType, lanes: int) -> str:
        """fmod, lane by lane for vectors of doubles: PoCL's double8 fmod gave wrong
        remainders in about 1.5% of lanes (0.4313 fmod 0.000499 gave 0.000234, not
        3.1e-05), more where another lane held an infinity; its float vectors and its
        scalar fmod were exact."""
        if lanes == 1 or dtype is not dtypes.float64:
            return f"fmod({a}, {b})"
        return f"(double{lanes})({', '.join(f'fmod({a}.s{i:x}, {b}.s{i:x})' for i in range(lanes))})"

    def _floor_div_mod(self, op: Op, a: str, b: str, dtype: DType, lanes: int) -> str:
        """Python's // and % on integers (rounding toward negative infinity); division
        by zero gives 0 instead of trapping."""
        safe_b = self._select(f"{b} == 0", literal(1, dtype), b, dtype, lanes, is_mask=True)
        quotient, rem = f"({a} / {safe_b})", f"({a} % {safe_b})"
        fix = needs_divisor_sign(rem, safe_b)
        result = (self._select(fix, f"({quotient} - {literal(1, dtype)})", quotient, dtype, lanes, is_mask=True)
                  if op is Op.FLOORDIV else self._select(fix, f"({rem} + {safe_b})", rem, dtype, lanes, is_mask=True))
        return self._select(f"{b} == 0", literal(0, dtype), result, dtype, lanes, is_mask=True)


def _vec(ctype: str, lanes: int) -> str:
    return ctype if lanes == 1 else f"{ctype}{lanes}"


def _lane_row_dim(kernel: Kernel) -> Optional[int]:
    """The kept dim whose neighbouring rows lanes would walk: the last one of size above 1."""
    return next((d for d in reversed(range(len(kernel.shape))) if d not in kernel.axes and kernel.shape[d] > 1), None)


def _kernel_nodes(kernel: Kernel) -> list[Node]:
    roots = kernel.outputs + list(kernel.replace.values())
    return toposort(roots, stop=lambda n: n in kernel.inputs or n.is_realized) + list(kernel.inputs)


def render(kernel: Kernel, parallelism: int, native_vector_bytes: int) -> RenderedKernel:
    """OpenCL C for `kernel`, launched in enough work-groups for `parallelism` parallel
    slots, for a device whose native vectors are `native_vector_bytes` wide."""
    if kernel.matmul is not None:
        from .opencl_matmul import MatmulRenderer  # it builds on this module's renderer
        return MatmulRenderer(kernel, parallelism, native_vector_bytes).render()
    return OpenCLRenderer(kernel, parallelism, native_vector_bytes).render()
