"""Triton source for a matrix product with its epilogue: Inductor's template.

One program computes a BLOCK_M x BLOCK_N tile of C for one batch index,
walking K in BLOCK_K steps with `tl.dot` on masked operand tiles (a masked
product selects and sums instead: runtime/matmul.py), then
applies the epilogue (anything elementwise on the product) to the tile and
stores it. Operands are read through their strides (transposes are not
copied) and may be elementwise expressions of buffers, evaluated on the
tile. Block sizes come from a small table keyed by the product's size.
"""
from __future__ import annotations

import math

from lazyfuse.runtime.graph import Op
from lazyfuse.runtime.matmul import Operand

from .common import batch_offset
from .triton import _COMBINE, Index, TritonRenderer, _Block, constant, tl_type

# (up to this many rows and columns, BLOCK_M, BLOCK_N, BLOCK_K, num_warps)
MATMUL_CONFIGS = [(64, 32, 32, 32, 4), (256, 64, 64, 32, 4), (math.inf, 128, 128, 32, 8)]
# a masked product (runtime/matmul.py) has no tl.dot: each step selects a BLOCK_M x
# BLOCK_K x BLOCK_N block of the right operand's values in registers and sums it over K
MASKED_CONFIG = (math.inf, 32, 32, 16, 4)


def _fitted(block: int, size: int) -> int:
    """The block, shrunk to the size's power of two but never below tl.dot's 16."""
    return max(16, min(block, 1 << (size - 1).bit_length()))


class TritonMatmulRenderer(TritonRenderer):
    def _row_kernel(self):
        mm = self.k.matmul
        configs = [MASKED_CONFIG] if mm.masked else MATMUL_CONFIGS
        _, block_m, block_n, block_k, warps = next(row for row in configs if max(mm.M, mm.N) <= row[0])
        block_m, block_n, block_k = _fitted(block_m, mm.M), _fitted(block_n, mm.N), _fitted(block_k, mm.K)
        tiles_n, tiles_m = -(-mm.N // block_n), -(-mm.M // block_m)
        lines = ["    pid = tl.program_id(0)",
                 f"    rm = (pid // {tiles_n}) % {tiles_m} * BLOCK_M + tl.arange(0, BLOCK_M)",
                 f"    rn = pid % {tiles_n} * BLOCK_N + tl.arange(0, BLOCK_N)",
                 f"    batch = pid // {tiles_n * tiles_m}",
                 "    acc = tl.full([BLOCK_M, BLOCK_N], 0, tl.float32)",
                 f"    for k0 in range(0, {mm.K}, BLOCK_K):",
                 "        rk = k0 + tl.arange(0, BLOCK_K)"]
        body = _Block("        ", self.names, None)
        a = self._operand(body, mm.left, "rm[:, None]", "rk[None, :]", f"(rm[:, None] < {mm.M}) & (rk[None, :] < {mm.K})")
        b = self._operand(body, mm.right, "rn[None, :]", "rk[:, None]", f"(rk[:, None] < {mm.K}) & (rn[None, :] < {mm.N})")
        if mm.masked:
            selected = f"tl.where({a}[:, :, None], {b}[None, :, :].to(tl.float32), 0.0)"
            body.lines.append(f"        acc += tl.reduce({selected}, 1, {_COMBINE[Op.SUM]})")
        else:
            # "ieee": full float32 products, as the CPU computes them (tf32 would round the inputs)
            body.lines.append(f"        acc += tl.dot({a}, {b}, input_precision=\"ieee\")")
        epilogue = _Block("    ", self.names, "cmask")
        epilogue.lines.append(f"    cmask = (rm[:, None] < {mm.M}) & (rn[None, :] < {mm.N})")
        self.accumulators[mm.reduce] = epilogue.var(f"acc.to({tl_type(mm.reduce.dtype)})", "c")
        self._store(epilogue, self.k.outputs, Index(f"((batch * {mm.M} + rm[:, None]) * {mm.N} + rn[None, :])"))
        lines += body.lines + epilogue.lines
        grid = tiles_n * tiles_m * mm.batch_size
        return lines, grid, {"BLOCK_M": block_m, "BLOCK_N": block_n, "BLOCK_K": block_k}, warps

    def _operand(self, block: _Block, operand: Operand, row: str, k: str, valid: str) -> str:
        """The operand's tile, zero outside the matrix (so the padding adds nothing)."""
        start = batch_offset(self.k.matmul.batch, operand, "//")
        pos = block.var(f"{start} + {row} * {operand.row_stride} + {k} * {operand.k_stride}", "i")
        mask = block.var(valid, "m")
        value = self.value(block, operand.source, Index(pos, mask))
        if operand.source in self.k.inputs or operand.source.is_realized:
            return value  # the masked load already reads zero
        return block.var(f"tl.where({mask}, {value}, {constant(0, operand.source.dtype)})")

