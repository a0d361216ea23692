"""Triton renderer: turns a scheduled Kernel into the source of a @triton.jit function.

Pointwise kernels cover XBLOCK elements per program with a mask. Row kernels
run one program per row (or per chunk of a row, for split reductions): each
phase of reductions loops over the row RBLOCK elements at a time into a
masked accumulator and reduces it with tl.reduce; a row of at most
PERSISTENT_ROW elements is covered by one block (persistent), longer rows are
looped. Shapes and strides are baked into the source as constants, so the
index arithmetic folds.
"""
from __future__ import annotations

import itertools
import math
import struct
from dataclasses import dataclass
from typing import Optional

from lazyfuse.runtime import dtypes, random_bits
from lazyfuse.runtime.dtypes import DType
from lazyfuse.runtime.graph import UNARY, Node, Op
from lazyfuse.runtime.schedule import Kernel
from lazyfuse.runtime.view import View

from .common import ExpressionRenderer, kernel_name, needs_divisor_sign, op_name, view_coordinates

PERSISTENT_ROW = 1024  # rows up to this length are reduced from registers in one block
LANE_TILE = 4096  # elements of a lane kernel's (rows, RBLOCK) tile

# launch configurations, Inductor-style: (up to this many elements, block, num_warps)
POINTWISE_CONFIGS = [(256, 256, 2), (65536, 1024, 4), (math.inf, 1024, 8)]
REDUCTION_CONFIGS = [(256, None, 2), (PERSISTENT_ROW, None, 4), (math.inf, 1024, 8)]  # None: the row, rounded up


def _config(table, n: int) -> tuple[int, int]:
    """(block, num_warps) for n elements; a block is a power of two of at least 16."""
    _, block, warps = next(row for row in table if n <= row[0])
    fitted = max(16, 1 << (max(n, 1) - 1).bit_length())
    return (min(block, fitted) if block else fitted), warps

_TL_TYPE = {"bool": "tl.int1", "int32": "tl.int32", "int64": "tl.int64", "float16": "tl.float16",
            "float32": "tl.float32", "float64": "tl.float64"}
POINTER_TYPE = {"bool": "*i8", "int32": "*i32", "int64": "*i64", "float16": "*fp16", "float32": "*fp32",
                "float64": "*fp64"}
_UNARY_FN = {Op.EXP: "tl.exp", Op.LOG: "tl.log", Op.EXP2: "tl.exp2", Op.LOG2: "tl.log2", Op.SIN: "tl.sin",
             Op.COS: "tl.cos", Op.SQRT: "tl.sqrt", Op.TANH: "_tanh", Op.ERF: "tl.erf", Op.ABS: "tl.abs"}
_INFIX = {Op.ADD: "+", Op.SUB: "-", Op.MUL: "*", Op.DIV: "/", Op.LT: "<", Op.LE: "<=", Op.EQ: "==", Op.NE: "!="}
_COMBINE = {Op.SUM: "_sum", Op.PROD: "_prod", Op.REDUCE_MAX: "_max", Op.REDUCE_MIN: "_min"}

HEADER = '''import triton
import triton.language as tl


@triton.jit
def _sum(a, b):
    return a + b


@triton.jit
def _prod(a, b):
    return a * b


@triton.jit
def _max(a, b):
    return tl.maximum(a, b, propagate_nan=tl.PropagateNan.ALL)


@triton.jit
def _min(a, b):
    return tl.minimum(a, b, propagate_nan=tl.PropagateNan.ALL)


# tanh and pow from tl primitives: libdevice has them on GPUs, but the interpreter does not


@triton.jit
def _tanh(x):
    e = tl.exp(-2.0 * tl.abs(x))
    t = (1.0 - e) / (1.0 + e)
    series = x - x * x * x / 3.0 + 2.0 * x * x * x * x * x / 15.0  # exact to rounding for |x| < 0.01
    return tl.where(tl.abs(x) < 0.01, series, tl.where(x < 0, -t, t))


@triton.jit
def _pow(a, b):
    magnitude = tl.exp2(b * tl.log2(tl.abs(a)))
    integral = tl.floor(b) == b
    odd = (b - 2.0 * tl.floor(b * 0.5)) == 1.0
    signed = tl.where(odd, -magnitude, magnitude)
    result = tl.where(a < 0, tl.where(integral, signed, magnitude * float("nan")), magnitude)
    return tl.where(b == 0, 1.0, result)


@triton.jit
def _round(x):
    return tl.where(x >= 0, tl.floor(x + 0.5), -tl.floor(0.5 - x))

'''
# Op.RAND (see runtime/random_bits.py): the constants come from there
_UNIFORM = """

@triton.jit
def _uniform(counter, position, BITS: tl.constexpr, REAL: tl.constexpr):
    z = (counter.to(tl.uint64, bitcast=True) + position.to(tl.uint64)) * {gamma:#x}
    z = (z ^ (z >> {shift0})) * {multiplier0:#x}
    z = (z ^ (z >> {shift1})) * {multiplier1:#x}
    z = z ^ (z >> {final})
    return (z >> (64 - BITS)).to(REAL) * (2.0 ** -BITS)
""".format(gamma=random_bits.GAMMA, final=random_bits.FINAL_SHIFT,
           **{f"{name}{i}": value for i, round_ in enumerate(random_bits.MIX_ROUNDS)
              for name, value in zip(("shift", "multiplier"), round_)})
HEADER += _UNIFORM


def tl_type(dtype: DType) -> str:
    return _TL_TYPE[dtype.name]


def constant(value, dtype: DType) -> str:
    """A scalar of `dtype`; infinities and NaN are built from their bit patterns."""
    if dtype is dtypes.bool_:
        return f"tl.full([], {int(bool(value))}, tl.int1)"
    if dtype.kind == "int":
        return f"tl.full([], {int(value)}, {tl_type(dtype)})"
    value = float(value)
    if math.isfinite(value):
        return f"tl.full([], {value!r}, {tl_type(dtype)})"
    if dtype is dtypes.float64:
        bits = struct.unpack("<q", struct.pack("<d", value))[0]
        return f"tl.full([], {bits}, tl.int64).to(tl.float64, bitcast=True)"
    bits = struct.unpack("<i", struct.pack("<f", value))[0]
    return f"tl.full([], {bits}, tl.int32).to(tl.float32, bitcast=True).to({tl_type(dtype)})"


def reduce_identity(op: Op, dtype: DType):
    if op is Op.SUM:
        return 0
    if op is Op.PROD:
        return 1
    if dtype.kind == "float":
        return -math.inf if op is Op.REDUCE_MAX else math.inf
    if dtype.kind == "bool":
        return 0 if op is Op.REDUCE_MAX else 1
    bound = 2 ** (8 * dtype.itemsize - 1)
    return -bound if op is Op.REDUCE_MAX else bound - 1


@dataclass(frozen=True)
class Index:
    """Positions (an int tensor or scalar expression) and where they are valid."""

    pos: str
    valid: Optional[str] = None
    row: Optional[str] = None  # on a row kernel's element index: the row variable


@dataclass
class RenderedKernel:
    name: str
    source: str  # a Python module defining `name`
    args: list[Node]
    grid: int
    constexprs: dict[str, int]
    num_warps: int
    signature: dict[str, str]


class _Block:
    def __init__(self, indent: str, names, mask: Optional[str]):
        self.indent, self.names, self.mask = indent, names, mask
        self.lines: list[str] = []
        self.cache: dict = {}

    def var(self, expr: str, prefix: str = "v") -> str:
        name = f"{prefix}{next(self.names)}"
        self.lines.append(f"{self.indent}{name} = {expr}")
        return name


class TritonRenderer(ExpressionRenderer):
    def __init__(self, kernel: Kernel):
        super().__init__(kernel)
        self.args: dict[Node, str] = {o: f"out{i}" for i, o in enumerate(kernel.stored)}
        self.names = itertools.count()
        self.persistent = False

    def render(self) -> RenderedKernel:
        k = self.k
        if k.is_reduction:
            body, grid, constexprs, warps = self._row_kernel()
        else:
            body, grid, constexprs, warps = self._pointwise_kernel()
        body = self._rider_lines() + body
        params = list(self.args.values()) + [f"{c}: tl.constexpr" for c in constexprs]
        code = f"({', '.join(params)}):\n" + "\n".join(body) + "\n"
        name = kernel_name(k, self.ops_seen, code)
        source = HEADER + f"\n@triton.jit\ndef {name}{code}"
        signature = {arg: POINTER_TYPE[node.dtype.name] for node, arg in self.args.items()}
        signature.update({c: "constexpr" for c in constexprs})
        return RenderedKernel(name, source, list(self.args), grid, constexprs, warps, signature)

    # ------------------------------------------------------------------ kernels
    def _rider_lines(self) -> list[str]:
        """The riders (see Kernel.riders), computed by the first program."""
        if not self.k.riders:
            return []
        block = _Block("        ", self.names, None)
        self.render_riders(block, Index("first"), self._store)
        return ["    first = tl.program_id(0)", "    if first == 0:"] + block.lines

    def _pointwise_kernel(self):
        n = math.prod(self.k.shape)
        xblock, warps = _config(POINTWISE_CONFIGS, n)
        block = _Block("    ", self.names, "mask")
        lines = ["    offsets = tl.program_id(0) * XBLOCK + tl.arange(0, XBLOCK)", f"    mask = offsets < {n}"]
        self._store(block, self.k.outputs, Index("offsets"))
        return lines + block.lines, -(-n // xblock), {"XBLOCK": xblock}, warps

    def _row_kernel(self):
        if self.k.lane_reduces:
            return self._lane_kernel()
        k = self.k
        R, P = k.row_len, k.split
        chunk = -(-R // P)
        rblock, warps = _config(REDUCTION_CONFIGS, min(R, chunk))
        if P > 1:
            lines = ["    pid = tl.program_id(0)", f"    row = pid // {P}", f"    r_begin = (pid % {P}) * {chunk}",
                     f"    r_end = tl.minimum(r_begin + {chunk}, {R})"]
        else:
            lines = ["    row = tl.program_id(0)", "    r_begin = 0", f"    r_end = {R}"]
        # persistent: the whole row is one block, so every phase reuses the values loaded once
        self.persistent = P == 1 and R <= PERSISTENT_ROW
        if self.persistent:
            self.row_body = _Block("    ", self.names, "rmask")
            # per-row values are scalars: loaded without the block's mask, in the same lines
            self.row_scalars = _Block("    ", self.names, None)
            self.row_scalars.lines = self.row_body.lines
            lines += ["    r = tl.arange(0, RBLOCK)", "    rmask = r < r_end"]
        element_view = self._element_view()

        def element_index(block: _Block) -> Index:
            if "element" not in block.cache:
                flat = Index(block.var(f"row * {R} + r", "e"))
                block.cache["element"] = Index(self._through_view(block, flat, element_view).pos, row="row")
            return block.cache["element"]

        for phase in k.reduce_phases:
            lines += self._reduce_phase(phase, element_index)
        full = k.full_outputs()
        if full:
            lines += self._row_loop(lambda block: self._store(block, full, element_index(block)))
        rest = [o for o in k.outputs if o not in full]
        block = _Block("    ", self.names, None)
        if P > 1:
            for o in rest:
                block.lines.append(f"    tl.store({self.args[o]} + pid, {self.accumulators[o.srcs[0]]})")
        else:
            self._store(block, rest, Index("row"))
        return lines + block.lines, k.rows * P, {"RBLOCK": rblock}, warps

    def _lane_kernel(self):
        """Lane reductions (see runtime/schedule.py): a program holds every row, along
        axis 0 of an (MBLOCK, RBLOCK) tile, and walks its chunk of the row loop RBLOCK
        positions at a time; a lane reduction is the tile reduced over axis 0, stored
        at its positions and read back spread over the rows. The scheduler splits such
        kernels, so the program stores partial results."""
        k = self.k
        R, P, M = k.row_len, k.split, k.rows
        assert P > 1, "a kernel with lane reductions runs in two stages"
        chunk = -(-R // P)
        mblock, _ = _config(REDUCTION_CONFIGS, M)
        rblock = max(16, min(LANE_TILE // mblock, 1 << (max(chunk, 1) - 1).bit_length()))
        (phase,) = k.reduce_phases
        lines = ["    pid = tl.program_id(0)", f"    r_begin = pid * {chunk}", f"    r_end = tl.minimum(r_begin + {chunk}, {R})",
                 "    rows = tl.arange(0, MBLOCK)", "    m = rows[:, None]", f"    mmask = m < {M}"]
        lines += self._accumulators(phase, "[MBLOCK, RBLOCK]")
        self.row_block = _Block("    ", self.names, "mmask")
        body = _Block("        ", self.names, "lmask")
        idx = Index(self._through_view(body, Index(body.var(f"m * {R} + r", "e")), self._element_view()).pos, row="m")
        for r in k.lane_reduces:
            self.ops_seen.append(op_name(r.op))
            identity = constant(reduce_identity(r.op, r.dtype), r.dtype)
            value = self.value(body, r.srcs[0], idx)
            lane = body.var(f"tl.reduce(tl.where(lmask, {value}, {identity}), 0, {_COMBINE[r.op]})[None, :]")
            if r in k.outputs:
                stored = f"{lane}.to(tl.int8)" if r.dtype is dtypes.bool_ else lane
                body.lines.append(f"{body.indent}tl.store({self.args[r]} + r, {stored}, mask=rmask)")
            self.accumulators[r] = lane
        for r in phase:
            self._accumulate(body, r, self.value(body, r.srcs[0], idx), "lmask")
        lines += self.row_block.lines + ["    for r0 in range(r_begin, r_end, RBLOCK):",
                                         "        r = (r0 + tl.arange(0, RBLOCK))[None, :]", "        rmask = r < r_end",
                                         "        lmask = mmask & rmask"] + body.lines
        self.row_block = None
        for r in phase:
            acc = self.accumulators[r]
            lines.append(f"    {acc} = tl.reduce({acc}_block, 1, {_COMBINE[r.op]})")
        for o in k.outputs:
            if o not in k.lane_reduces:  # partial results: one slot per (row, chunk)
                lines.append(f"    tl.store({self.args[o]} + rows * {P} + pid, {self.accumulators[o.srcs[0]]}, "
                             f"mask=rows < {M})")
        return lines, P, {"MBLOCK": mblock, "RBLOCK": rblock}, 4

    def _row_loop(self, fill) -> list[str]:
        """One loop over the row, RBLOCK elements per step; per-row values it reads
        come first. A persistent kernel has no loop: its one block goes on."""
        if self.persistent:
            self.row_block, start = self.row_scalars, len(self.row_body.lines)
            fill(self.row_body)
            self.row_block = None
            return self.row_body.lines[start:]
        self.row_block = _Block("    ", self.names, None)
        body = _Block("        ", self.names, "rmask")
        fill(body)
        lines = self.row_block.lines + ["    for r0 in range(r_begin, r_end, RBLOCK):",
                                        "        r = r0 + tl.arange(0, RBLOCK)", "        rmask = r < r_end"]
        self.row_block = None
        return lines + body.lines

    def _accumulators(self, phase: list[Node], shape: str) -> list[str]:
        """Declare a block of accumulators of `shape`, filled with the identity, per reduction."""
        lines = []
        for r in phase:
            self.ops_seen.append(op_name(r.op))
            acc = f"acc{len(self.accumulators)}"
            identity = constant(reduce_identity(r.op, r.dtype), r.dtype)
            lines.append(f"    {acc}_block = tl.full({shape}, 0, {tl_type(r.dtype)}) + {identity}")
            self.accumulators[r] = acc
        return lines

    def _accumulate(self, block: _Block, r: Node, value: str, mask: str) -> None:
        identity = constant(reduce_identity(r.op, r.dtype), r.dtype)
        acc = f"{self.accumulators[r]}_block"
        block.lines.append(f"{block.indent}{acc} = {_COMBINE[r.op]}({acc}, tl.where({mask}, {value}, {identity}))")

    def _reduce_phase(self, phase: list[Node], element_index) -> list[str]:
        lines = self._accumulators(phase, "[RBLOCK]")

        def fill(block: _Block):
            idx = element_index(block)
            for r in phase:
                self._accumulate(block, r, self.value(block, r.srcs[0], idx), "rmask")

        lines += self._row_loop(fill)
        for r in phase:
            acc = self.accumulators[r]
            lines.append(f"    {acc} = tl.reduce({acc}_block, 0, {_COMBINE[r.op]})")
        return lines

    def _store(self, block: _Block, outputs: list[Node], idx: Index) -> None:
        for o in outputs:
            value = self.value(block, o, idx)
            if o.dtype is dtypes.bool_:
                value = f"{value}.to(tl.int8)"
            mask = f", mask={block.mask}" if block.mask else ""
            block.lines.append(f"{block.indent}tl.store({self.args[o]} + {idx.pos}, {value}{mask})")

    # ------------------------------------------------------------------ indices and values
    def _through_view(self, block: _Block, idx: Index, view: View) -> Index:
        if view.is_flat_shift:
            return Index(idx.pos if view.offset == 0 else block.var(f"{idx.pos} + {view.offset}", "i"), idx.valid)
        key = ("view", idx.pos, view)
        if key not in block.cache:
            terms, conds = [], []
            for coord, stride, (lo, hi), size in view_coordinates(idx.pos, view.merged_dims(), "//"):
                if stride:
                    terms.append(coord if stride == 1 else f"{coord} * {stride}")
                if (lo, hi) != (0, size):
                    conds.append(f"({coord} >= {lo}) & ({coord} < {hi})")
            # a view reading one element everywhere still gives a block of positions (a
            # scalar pointer cannot take the block's mask)
            terms = (terms or [f"{idx.pos} * 0"]) + ([str(view.offset)] if view.offset else [])
            pos = block.var(" + ".join(terms), "i")
            valid = block.var(" & ".join(conds), "m") if conds else None
            block.cache[key] = (pos, valid)
        pos, valid = block.cache[key]
        if idx.valid and valid:
            valid = block.var(f"{idx.valid} & {valid}", "m")
        return Index(pos, valid or idx.valid)

    def _constant(self, block: _Block, node: Node) -> str:
        return constant(node.arg, node.dtype)

    def _row_index(self, idx: Index) -> Index:
        return Index(idx.row)

    def _zero_outside(self, block: _Block, node: Node, value: str, idx: Index) -> str:
        return block.var(f"tl.where({idx.valid}, {value}, {constant(0, node.dtype)})")

    def _compute(self, block: _Block, node: Node, srcs: list[str]) -> str:
        if node.op in (Op.FLOORDIV, Op.MOD) and node.dtype.kind == "float":
            return block.var(f"{self._float_floor_div_mod(block, node.op, *srcs)}.to({tl_type(node.dtype)})")
        return block.var(f"({self._elementwise(node, srcs)}).to({tl_type(node.dtype)})")

    def _random(self, block: _Block, node: Node, counter: str, idx: Index) -> str:
        bits = random_bits.significand_bits(node.dtype)
        real = "tl.float64" if bits > 24 else "tl.float32"  # float64 is slow on most GPUs: only where needed
        return block.var(f"_uniform({counter}, {idx.pos}, {bits}, {real}).to({tl_type(node.dtype)})")

    def _position(self, block: _Block, node: Node, idx: Index) -> str:
        return block.var(f"({idx.pos}).to({tl_type(node.dtype)})")

    @staticmethod
    def _float_floor_div_mod(block: _Block, op: Op, a: str, b: str) -> str:
        """Python's and PyTorch's // and % on floats, from the exact fmod (Triton's %
        on floats): floor(a / b) is one too many where a / b rounds up to an integer
        (1.0 // 0.1 is 9.0)."""
        rem = block.var(f"{a} % {b}")
        fix = block.var(needs_divisor_sign(rem, b))
        if op is Op.MOD:
            return block.var(f"tl.where({fix}, {rem} + {b}, {rem})")
        quotient = block.var(f"({a} - {rem}) / {b}")  # an integer, up to rounding
        quotient = block.var(f"tl.where({fix}, {quotient} - 1, {quotient})")
        floor = block.var(f"tl.floor({quotient})")
        result = f"tl.where({quotient} - {floor} > 0.5, {floor} + 1, {floor})"
        # a zero quotient takes the sign of a / b, as copysign(0, a / b) gives it
        result = block.var(f"tl.where({quotient} != 0, {result}, {a} / {b} * 0.0)")
        return block.var(f"tl.where({b} == 0, {a} / {b}, {result})")

    def _load(self, block: _Block, node: Node, idx: Index) -> str:
        if node not in self.args:
            self.args[node] = f"in{len(self.args)}"
        masks = [m for m in (block.mask, idx.valid) if m]
        mask = f", mask={' & '.join(masks)}, other=0" if masks else ""
        value = f"tl.load({self.args[node]} + {idx.pos}{mask})"
        if node.dtype is dtypes.bool_:
            value += " != 0"
        return block.var(value)

    def _gather(self, block: _Block, node: Node, positions: str) -> str:
        return self._load(block, node, Index(positions))

    def _elementwise(self, node: Node, srcs: list[str]) -> str:
        op = node.op
        if op is Op.WHERE:
            return f"tl.where({srcs[0]}, {srcs[1]}, {srcs[2]})"
        if op in UNARY:
            return self._unary(op, srcs[0], node.srcs[0].dtype, node.dtype)
        a, b, dtype = srcs[0], srcs[1], node.srcs[0].dtype
        if op in _INFIX:
            return f"{a} {_INFIX[op]} {b}"
        if op in (Op.MAX, Op.MIN):
            fn = "tl.maximum" if op is Op.MAX else "tl.minimum"
            return f"{fn}({a}, {b}, propagate_nan=tl.PropagateNan.ALL)" if dtype.kind == "float" else f"{fn}({a}, {b})"
        if op is Op.POW:
            if dtype.kind == "float":
                return f"_pow({_math_operand(a, dtype)}, {_math_operand(b, dtype)})"
            # a negative power of an integer other than 1 and -1 is 0, as in PyTorch
            return (f"tl.where(({b} < 0) & ({a} != 1) & ({a} != -1), 0, "
                    f"_round(_pow({a}.to(tl.float64), {b}.to(tl.float64))))")
        if op in (Op.FLOORDIV, Op.MOD):
            return self._floor_div_mod(op, a, b, dtype)
        raise AssertionError(f"no Triton rendering for {op}")

    def _unary(self, op: Op, a: str, src: DType, dst: DType) -> str:
        if op is Op.CAST:
            return f"{a} != 0" if dst is dtypes.bool_ else f"{a}.to({tl_type(dst)})"
        if op is Op.NEG:
            return f"-{a}"
        if op is Op.NOT:
            return f"{a} == 0"
        if op is Op.RECIP:
            return f"1.0 / {a}"
        if op is Op.SIGMOID:
            return f"1.0 / (1.0 + tl.exp(-{_math_operand(a, src)}))"
        return f"{_UNARY_FN[op]}({_math_operand(a, src)})"

    def _floor_div_mod(self, op: Op, a: str, b: str, dtype: DType) -> str:
        """Python's // and % on integers, whatever rounding `//` has on the target;
        division by zero gives 0."""
        safe = f"tl.where({b} == 0, 1, {b})"
        quotient = f"({a} // {safe})"
        rem = f"({a} - {quotient} * {safe})"
        fix = needs_divisor_sign(rem, safe)
        result = (f"tl.where({fix}, {quotient} - 1, {quotient})" if op is Op.FLOORDIV
                  else f"tl.where({fix}, {rem} + {safe}, {rem})")
        return f"tl.where({b} == 0, 0, {result})"


def _math_operand(value: str, dtype: DType) -> str:
    """An operand for Triton's math functions, which take fp32 and fp64 only: float16
    computes in float32, as the OpenCL kernels compute it in float registers."""
    return f"{value}.to(tl.float32)" if dtype is dtypes.float16 else value


def render(kernel: Kernel) -> RenderedKernel:
    if kernel.matmul is not None and kernel.matmul.reduce.dtype in (dtypes.float32, dtypes.float16):
        from .triton_matmul import TritonMatmulRenderer  # it builds on this module's renderer
        return TritonMatmulRenderer(kernel).render()
    return TritonRenderer(kernel).render()

