"""OpenCL C for a matrix product with its epilogue, register-blocked for CPUs.

Each work-item owns a panel of NR = MICRO_VECTORS * W columns of C over a
block of rows (their partial sums fill at most PARTIAL_BYTES). It walks K in
blocks (their NR-wide panel fills PANEL_BYTES). For each block it first
copies the right operand's panel into a private array (evaluated
once, contiguous whatever the operand's strides), then computes MICRO_ROWS x
NR register tiles one after another from it (BLAS's loop order: the panel is
read from L1 by every tile). Each step of k broadcasts MICRO_ROWS values of
the left operand for MICRO_ROWS * MICRO_VECTORS vector multiply-adds (in a
masked product, conditions for as many conditional adds). Partial
sums wait between K blocks in a second private array; after the last block
the epilogue (bias, activation, scaling, anything elementwise on the
product) is applied and the outputs stored.

Operands are read through their strides (a transposed operand is not
copied, unless the scheduler gave the product a row-major copy of its left
operand: runtime/matmul.py) and may be elementwise expressions of buffers,
recomputed at each read. Work-groups are not used: PoCL keeps private variables live across a
barrier in memory, which measured 4x slower than this plain loop nest.
The last tile of a row or column that does not divide evenly is shifted
back to end at the matrix's edge, so it recomputes a few outputs instead of
needing masks.

A masked product whose condition is `m == index[k]` (the gradient of picked
rows, an embedding's) is a scatter instead: each work-item walks K once and
adds right's row k into its block's row index[k] when that falls in the block.
"""
from __future__ import annotations

from typing import Optional

from lazyfuse.runtime.graph import Node, Op
from lazyfuse.runtime.schedule import Kernel
from lazyfuse.runtime.view import View

from .common import batch_offset
from .opencl import MOST_LANES, Index, OpenCLRenderer, literal, register_bytes, register_type

# 6 x 2 vector accumulators + 2 right-operand vectors + 1 broadcast fill the 16
# vector registers of AVX2; measured there against 8x1 and 4x2 tiles: 163 vs 97
# and 107 GFLOP/s at 1024. With AVX-512's 32 registers (of float16), 8x2 and 12x2
# tiles measured no faster than 6x2 at 1024 and 2048
MICRO_ROWS = 6
MICRO_VECTORS = 2
# the partial sums a work-item keeps across K blocks, for as many rows as fit (192 rows
# of two float8 vectors, 96 of two float16): the right operand's panel is copied once
# per that many rows
PARTIAL_BYTES = 12 << 10
# the packed K block x NR panel stays in L1 (32 KiB on znver3, 48 on icelake): K blocks
# of 256 with float8, 128 with float16. Measured with float8 against a 128 block, with 96
# and 192 rows per item at 256, 1024 and 2048; with float16 against 256 and 64 blocks
PANEL_BYTES = 16 << 10
# a K up to this much above the block is walked as one block rather than a block and a
# short tail, whose partial sums go to memory and back: a convolution's 36864x288 @
# 288x64 product measured 15.1 -> 14.0, 18.2 -> 16.7 and 23.4 -> 20.3 ms in three
# interleaved runs against blocks of 256 + 32 (and no faster as 144 + 144)
ONE_BLOCK_SLACK = 1.25


class MatmulRenderer(OpenCLRenderer):
    def __init__(self, kernel: Kernel, parallelism: int, native_vector_bytes: int):
        super().__init__(kernel, parallelism, native_vector_bytes)
        # the device's native vectors of the product's type when a panel of them fits its
        # columns: float16 with AVX-512 took 1024 and 2048 products from 89 and 95 to 153 and
        # 154 GFLOP/s against float8. Only the panel copy's gathers use index vectors, which
        # may then be wider than the device's (long16 when the product needs long indices).
        native = min(MOST_LANES, native_vector_bytes // register_bytes(kernel.matmul.reduce.dtype))
        if MICRO_VECTORS * native <= kernel.matmul.N:
            self.lanes = max(self.lanes, native)
        while MICRO_VECTORS * self.lanes > kernel.matmul.N:  # the last panel ends at the edge: it must fit
            self.lanes //= 2

    @property
    def _columns(self) -> int:
        return MICRO_VECTORS * self.lanes

    @property
    def _vector_bytes(self) -> int:
        return self.lanes * register_bytes(self.k.matmul.reduce.dtype)

    @property
    def _k_block(self) -> int:
        block = PANEL_BYTES // (MICRO_VECTORS * self._vector_bytes)
        return self.k.matmul.K if block < self.k.matmul.K <= block * ONE_BLOCK_SLACK else block

    @property
    def _most_rows(self) -> int:
        """The most rows a work-item computes, whose partial sums fill PARTIAL_BYTES."""
        return PARTIAL_BYTES // (MICRO_VECTORS * self._vector_bytes) // MICRO_ROWS * MICRO_ROWS

    def _panels(self) -> tuple[int, int]:
        mm = self.k.matmul
        return -(-mm.N // self._columns), -(-mm.M // self._most_rows)

    @property
    def _rows_per_item(self) -> int:
        """At most _most_rows, spread evenly over the row blocks (256 rows: two of
        128, not 192 and 64), in whole tiles."""
        row_blocks = self._panels()[1]
        return -(-self.k.matmul.M // row_blocks // MICRO_ROWS) * MICRO_ROWS if row_blocks > 1 else self._most_rows

    def _work_items(self) -> int:
        column_panels, row_blocks = self._panels()
        return column_panels * row_blocks * self.k.matmul.batch_size

    def _local_size(self, work_items: int) -> Optional[int]:
        return 1 if work_items else None

    def _row_kernel(self) -> list[str]:
        mm, it = self.k.matmul, self.itype
        column_panels, row_blocks = self._panels()
        lines = [f"  const {it} gid = get_global_id(0);",
                 f"  const {it} n0 = min((gid % {column_panels}) * {self._columns}, ({it}){mm.N - self._columns});",
                 f"  const {it} m_begin = (gid / {column_panels}) % {row_blocks} * {self._rows_per_item};",
                 f"  const {it} m_end = min(m_begin + {self._rows_per_item}, ({it}){mm.M});",
                 f"  const {it} batch = gid / {column_panels * row_blocks};",
                 f"  const {it} left_base = {batch_offset(mm.batch, mm.left, '/')};",
                 f"  const {it} right_base = {batch_offset(mm.batch, mm.right, '/')};"]
        index = _one_hot_index(mm)
        return lines + (self._tiled_loops() if index is None else self._scatter_loops(index))

    def _tiled_loops(self) -> list[str]:
        """The blocked loops over K and the register tiles over the rows."""
        mm, W, it = self.k.matmul, self.lanes, self.itype
        MR, NV = MICRO_ROWS, MICRO_VECTORS
        vec = f"{register_type(mm.reduce.dtype)}{W}"
        KB = self._k_block
        blocked = mm.K > KB
        lines = [f"  {vec} panel[{KB * NV}];"]
        if blocked:
            lines.append(f"  {vec} partial[{self._most_rows * NV}];")
        acc = [[f"acc{i}_{j}" for j in range(NV)] for i in range(MR)]
        slot = [[f"partial[(mi - m_begin + {i}) * {NV} + {j}]" for j in range(NV)] for i in range(MR)]
        zero = f"({vec}){literal(0, mm.reduce.dtype)}"
        body = [f"const {it} k_end = min(kb + {KB}, ({it}){mm.K});",
                f"for ({it} k = kb; k < k_end; k++) {{"]
        body += self._pack_right() + ["}"]
        body += [f"for ({it} mi = m_begin; mi < m_end; mi += {MR}) {{",
                 f"  const {it} m0 = min(mi, ({it}){mm.M - MR});"]
        body += [f"  {vec} {acc[i][j]} = {f'kb == 0 ? {zero} : {slot[i][j]}' if blocked else zero};"
                 for i in range(MR) for j in range(NV)]
        # a long k: each left row's load then adds k to a base computed once per tile
        # (with an int k, PoCL's LLVM added and sign-extended each row's index at every
        # k: 37 instructions a step for 12 multiply-adds; 1024 product 63-84 -> 90-107
        # GFLOP/s, kernel alone, interleaved)
        body += ["  for (long k = kb; k < k_end; k++) {"]
        body += ["  " + line for line in self._multiply_add(acc)] + ["  }"]
        epilogue = [line[2:] for line in self._epilogue(acc)]
        if blocked:
            body += ["  if (k_end < {}) {{".format(mm.K)]
            body += [f"    {slot[i][j]} = {acc[i][j]};" for i in range(MR) for j in range(NV)]
            body += ["  } else {"] + ["  " + line for line in epilogue] + ["  }"]
        else:
            body += epilogue
        body += ["}"]
        lines += [f"  for ({it} kb = 0; kb < {mm.K}; kb += {KB}) {{"] + ["    " + line for line in body] + ["  }"]
        return lines

    def _scatter_loops(self, index: Node) -> list[str]:
        """A masked product whose condition is `m == index[k]` (autograd's gradient of
        picked elements, an embedding's: see _one_hot_index) adds right's row k into
        output row index[k]: the work-item walks K once, adding the rows whose index
        falls in its block, where the tiled loops tested every row at every k (an
        embedding of 20,000 rows: 29 ms for 512 picks of 128 columns)."""
        mm, W, it = self.k.matmul, self.lanes, self.itype
        NV = MICRO_VECTORS
        vec = f"{register_type(mm.reduce.dtype)}{W}"
        picked = self._block(1, "    ")
        row = self.value(picked, index, Index(f"(left_base + k * {mm.left.k_stride})", 0))
        lines = [f"  {vec} rows[{self._rows_per_item * NV}];",
                 f"  for ({it} r = 0; r < (m_end - m_begin) * {NV}; r++) rows[r] = ({vec}){literal(0, mm.reduce.dtype)};",
                 f"  for ({it} k = 0; k < {mm.K}; k++) {{"] + picked.lines
        lines += [f"    if ({row} >= m_begin && {row} < m_end) {{", f"      const {it} m = {row} - m_begin;"]
        lines += ["    " + line for line in self._right_vectors(lambda j, value: f"rows[m * {NV} + {j}] += {value};")]
        lines += ["    }", "  }", f"  for ({it} m0 = m_begin; m0 < m_end; m0++) {{"]
        lines += ["  " + line for line in self._epilogue([[f"rows[(m0 - m_begin) * {NV} + {j}]" for j in range(NV)]])]
        return lines + ["  }"]

    def _pack_right(self) -> list[str]:
        """Copy this K block of the right operand's columns into `panel`, evaluated
        once here instead of once per tile, and contiguous whatever its strides."""
        return self._right_vectors(lambda j, value: f"panel[(k - kb) * {MICRO_VECTORS} + {j}] = {value};")

    def _right_vectors(self, use) -> list[str]:
        """The right operand's vectors of this work-item's columns at k, each emitted
        into `use(j, value)` for the j-th vector."""
        right, W = self.k.matmul.right, self.lanes
        vectors = self._block(W, "  ")
        for j in range(MICRO_VECTORS):
            position = f"(right_base + (n0 + {j * W}) * {right.row_stride} + k * {right.k_stride})"
            vectors.emit(use(j, self.value(vectors, right.source, Index(position, right.row_stride))))
        return vectors.lines

    def _multiply_add(self, acc: list[list[str]]) -> list[str]:
        """One step of k: broadcast each left value and multiply-add it with the packed
        right vectors at once (all loads first would need more than 16 registers)."""
        left = self.k.matmul.left
        lines = []
        for i in range(MICRO_ROWS):
            scalars = self._block(1, "  ")
            a = self.value(scalars, left.source,
                           Index(f"(left_base + (m0 + {i}) * {left.row_stride} + k * {left.k_stride})", 0))
            lines += scalars.lines
            if self.k.matmul.masked:  # a condition: add the right values where it holds
                lines += [f"  if ({a}) {{"] + [f"    {acc[i][j]} += panel[(k - kb) * {MICRO_VECTORS} + {j}];"
                                                for j in range(MICRO_VECTORS)] + ["  }"]
            else:
                # written as a * b + c, which the compiler contracts to a fused multiply-add
                # (an explicit fma() call is not inlined by PoCL)
                lines += [f"  {acc[i][j]} = {a} * panel[(k - kb) * {MICRO_VECTORS} + {j}] + {acc[i][j]};"
                          for j in range(MICRO_VECTORS)]
        return lines

    def _epilogue(self, acc: list[list[str]]) -> list[str]:
        """The epilogue and stores of rows m0, m0 + 1, ... holding acc[0], acc[1], ..."""
        mm, W = self.k.matmul, self.lanes
        lines = []
        for i in range(len(acc)):
            for j in range(MICRO_VECTORS):
                self.accumulators[mm.reduce] = acc[i][j]
                block = self._block(W, "  ")
                row = f"((batch * {mm.M} + m0 + {i}) * {mm.N} + n0 + {j * W})"
                self._store_outputs(block, self.k.outputs, Index(row, 1, aligned=mm.N % W == 0))
                lines += ["  {"] + block.lines + ["  }"]
        return lines


def _one_hot_index(mm) -> Optional[Node]:
    """For a masked product (runtime/matmul.py) over an (M, K) condition `m == index[k]`
    read in place, with no batch: the node holding index[k] at the condition's
    position of any m. That is how autograd adds the gradients of picked elements
    back at their indices (autograd/rules.py: _pick_gradient)."""
    condition, left = mm.left.source, mm.left
    if (not mm.masked or mm.batch or condition.op is not Op.EQ or condition.shape != (mm.M, mm.K)
            or (left.offset, left.row_stride, left.k_stride) != (0, mm.K, 1)):
        return None
    row_position = View((mm.M, mm.K), (1, 0))
    for rows, index in (condition.srcs, condition.srcs[::-1]):
        if (rows.op is Op.VIEW and rows.arg == row_position and rows.srcs[0].op is Op.POSITION
                and rows.srcs[0].shape == (mm.M,) and index.op is Op.VIEW and index.arg.mask is None
                and index.arg.strides[0] == 0):
            return index
    return None
