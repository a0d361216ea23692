"""Recognising a matrix product in the lazy graph.

`matmul` records a multiply-reduce: a SUM over the last axis of
S = (*batch, M, N, K) of MUL(left, right), where `left` reads (*batch, m, k)
and does not move along N (stride 0), and `right` reads (*batch, n, k) and
does not move along M. Autograd's products (`g @ w.T`, `x.T @ g`) are the
same multiply over S reduced over another axis: whichever axis is reduced
is K, and the kept axes, in order, are (*batch, M, N). A masked product is
the same with WHERE(left, right, 0) for MUL, `left` boolean: it sums the
right operand's values where the left is true (autograd's gradient of a
selection adds each pick's gradient back at its index this way, and unlike a
product with 0/1 a non-finite value reaches only its own index). The scheduler gives a
product large enough its own register-blocked kernel (kernels/*_matmul.py);
smaller ones stay ordinary row reductions.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Optional

from .graph import Node, Op
from .view import View

# A product is tiled when K and each of M and N are at least MIN_TILED_DIM (below
# that a tiled kernel's blocks would be mostly empty), or, with M or N smaller
# but at least the kernel's minimum (a tile is 6 rows by two vectors of as few as
# 2 lanes), when it does at least NARROW_TILED_WORK multiply-adds per row or
# column: a convolution's 6 filters over 50,000 positions and its weight
# gradient ran 20-100x slower as row reductions gathering their operands. Other
# products are row reductions, which an optimizer's update can join.
MIN_TILED_DIM = 16
MIN_TILED_ROWS = 6
MIN_TILED_COLUMNS = 4
NARROW_TILED_WORK = 1 << 16
# a product over fewer than MIN_TILED_DIM terms is tiled when it does at least this
# many multiply-adds in all: as a row reduction, each of its many short rows ran as
# scalars (a convolution's input gradient through 6 filters took 30 ms)
SHORT_TILED_WORK = 1 << 22
# The tiled kernels read the left operand a row tile (MICRO_ROWS values) at each k,
# once per panel of columns: when k is not its fastest axis (a weight gradient's
# x.T @ g), each k is a new cache line, so a product with at least COPY_LEFT_COLUMNS
# columns, COPY_LEFT_K terms and COPY_LEFT_WORK multiply-adds reads a row-major copy
# of it instead, made by a kernel of its own. Measured (kernel times, interleaved),
# M x K @ K x N through a transpose against a copy: 64x36864 @ 36864x288 40-53 ->
# 24 ms, 288x36864 @ 36864x64 52-58 -> 42-45 ms, 512x2048 @ 2048x512 21-22 -> 14-18
# ms, 128x9216 @ 9216x64 4-6 ms both; with 16 columns, 64x65536 @ 65536x16, 8 -> 17 ms
COPY_LEFT_COLUMNS = 64
COPY_LEFT_K = 256
COPY_LEFT_WORK = 1 << 24
# A product's operand may be an elementwise expression of buffers (a gradient masked by
# a relu, a max-pool's pick from its window, a GELU), which its kernel evaluates at every
# read of an element. A tiled kernel reads each element of the left operand once per
# panel of PANEL_COLUMNS columns (fewer when N is narrower: kernels/opencl_matmul.py), in
# scalars that cost about as much as a vector of SCALAR_COST lanes each, and each element
# of the right operand once per block of at least BLOCK_ROWS rows; a row reduction reads
# an operand once per position along the dims it is broadcast over. The scheduler gives
# an operand a kernel of its own, which evaluates it once in vectors, where that saves at
# least REREAD_WORK evaluations of its ops (fewer cost less than the launch). Measured on
# PyTorch's MNIST example, kernel times per step: its first linear layer's product
# reading the max-pool's picks 13.2 -> 2.7 ms (+0.9 for the picks' own kernel), its input
# and weight gradients reading the relu-masked gradient 4.7 and 5.6 -> 1.7 ms each.
PANEL_COLUMNS = 16
BLOCK_ROWS = 96
SCALAR_COST = 8
REREAD_WORK = 1 << 18


@dataclass(frozen=True)
class Operand:
    """One side of a product: `source`, read through a mask-free strided view
    at position offset + batch . batch_strides + row * row_stride + k * k_stride,
    where `row` is m for the left operand and n for the right."""

    source: Node
    offset: int
    batch_strides: tuple[int, ...]
    row_stride: int
    k_stride: int


@dataclass(frozen=True)
class Matmul:
    reduce: Node
    left: Operand
    right: Operand
    batch: tuple[int, ...]
    M: int
    N: int
    K: int
    # set when the kernel stores the product transposed: this VIEW of `reduce`
    # (a weight's gradient computed as (x.T @ g).T), with M and N and the operands swapped
    transposed_by: Optional[Node] = None
    # sums right where left is true (see the module's docstring) instead of left * right
    masked: bool = False

    @property
    def batch_size(self) -> int:
        return math.prod(self.batch)


def is_product(reduce: Node) -> bool:
    """Whether `reduce` is a multiply-reduce of two views, as `matmul` records one,
    or a masked product (of any size: small ones are ordinary row reductions)."""
    if reduce.op is not Op.SUM or reduce.dtype.kind != "float" or len(reduce.arg) != 1:
        return False
    terms = factors(reduce.srcs[0])
    return (len(reduce.shape) >= 3 and terms is not None
            and all(v.op is Op.VIEW and v.arg.mask is None for v in terms))


def factors(product: Node) -> Optional[tuple[Node, ...]]:
    """The two values a product's terms combine: a MUL's sources, or a masked
    product's condition and value."""
    if product.op is Op.MUL:
        return product.srcs
    if (product.op is Op.WHERE and product.srcs[0].dtype.kind == "bool"
            and product.srcs[2].op is Op.CONST and product.srcs[2].arg == 0):
        return product.srcs[:2]
    return None


def is_tiled(reduce: Node) -> bool:
    """Whether `reduce` is a product worth a tiled kernel (`match` without making the
    row-major copy it may read)."""
    return _product(reduce) is not None


def match(reduce: Node) -> Optional[Matmul]:
    """The product `reduce` computes, if it is one worth a tiled kernel."""
    mm = _product(reduce)
    return _with_row_major_left(mm) if mm is not None else None


def operand_reads(mm: Matmul) -> list[tuple[Node, int, int]]:
    """(source, cost of evaluating it per element in units of one evaluation, elements)
    for each operand of a tiled product (see PANEL_COLUMNS)."""
    columns = PANEL_COLUMNS
    while columns > mm.N:
        columns //= 2
    # a masked product tests each condition in a scalar branch, stored or not: evaluating
    # it there measured faster than a kernel of its own (an embedding's gradient, 1,000
    # rows by 2,048 picks of 64 columns: 3.8 ms against 4.4 + 2.2 ms)
    left_reads = 1 if mm.masked else -(-mm.N // columns) * SCALAR_COST
    return [(mm.left.source, left_reads, mm.batch_size * mm.M * mm.K),
            (mm.right.source, -(-mm.M // BLOCK_ROWS), mm.batch_size * mm.N * mm.K)]


def row_operand_reads(reduce: Node) -> list[tuple[Node, int, int]]:
    """`operand_reads` for a product computed as a row reduction (`is_product`)."""
    reads = []
    for view in factors(reduce.srcs[0]):
        sizes = list(zip(view.shape, view.arg.strides))
        reads.append((view.srcs[0], math.prod(size for size, stride in sizes if stride == 0),
                      math.prod(size for size, stride in sizes if stride != 0)))
    return reads


def _product(reduce: Node) -> Optional[Matmul]:
    """`match`'s product with its operands as the graph reads them."""
    if not is_product(reduce):
        return None
    product = reduce.srcs[0]
    S = product.shape
    (k_axis,) = reduce.arg
    # the result keeps every other axis, in order: (*batch, m, n)
    *batch_axes, m_axis, n_axis = [d for d in range(len(S)) if d != k_axis]
    M, N, K = S[m_axis], S[n_axis], S[k_axis]
    if M < MIN_TILED_ROWS or N < MIN_TILED_COLUMNS or (K < MIN_TILED_DIM and M * N * K < SHORT_TILED_WORK):
        return None
    if (M < MIN_TILED_DIM and N * K < NARROW_TILED_WORK) or (N < MIN_TILED_DIM and M * K < NARROW_TILED_WORK):
        return None
    terms = factors(product)
    left = next((v for v in terms if v.arg.strides[n_axis] == 0), None)
    right = next((v for v in terms if v is not left), None)
    if left is None or right is None or right.arg.strides[m_axis] != 0:
        return None
    masked = product.op is Op.WHERE
    if masked and left is not terms[0]:
        return None  # the kernels broadcast the left operand's values: it is the condition

    def operand(view_node: Node, row_axis: int) -> Operand:
        view = view_node.arg
        return Operand(view_node.srcs[0], view.offset, tuple(view.strides[d] for d in batch_axes),
                       view.strides[row_axis], view.strides[k_axis])
    return Matmul(reduce, operand(left, m_axis), operand(right, n_axis), tuple(S[d] for d in batch_axes), M, N, K,
                  masked=masked)


def _with_row_major_left(mm: Matmul) -> Matmul:
    """The product reading its left operand from a row-major copy where that pays (see
    COPY_LEFT_COLUMNS): a view of the operand's source that the scheduler computes in
    a kernel of its own."""
    left = mm.left
    if left.k_stride == 1 or mm.N < COPY_LEFT_COLUMNS or mm.K < COPY_LEFT_K or mm.M * mm.N * mm.K < COPY_LEFT_WORK:
        return mm
    shape = mm.batch + (mm.M, mm.K)
    view = View._make(shape, left.batch_strides + (left.row_stride, left.k_stride), left.offset, None)
    copy = Node.make(Op.VIEW, (left.source,), view, shape, left.source.dtype, left.source.device)
    strides = View.contiguous(shape).strides
    return replace(mm, left=Operand(copy, 0, strides[:-2], strides[-2], strides[-1]))


def match_transposed(view_node: Node) -> Optional[Matmul]:
    """For a VIEW reading a product with its last two axes swapped, that product
    with the roles of M and N swapped, so its kernel stores the view directly."""
    if view_node.op is not Op.VIEW or view_node.srcs[0].op is not Op.SUM:
        return None
    mm = _product(view_node.srcs[0])
    if mm is None or mm.masked:  # (swapped, the condition would be the right operand)
        return None
    rank = len(mm.batch) + 2
    order = tuple(range(rank - 2)) + (rank - 1, rank - 2)
    if view_node.arg != View.contiguous(mm.batch + (mm.M, mm.N)).permute(order):
        return None
    return _with_row_major_left(replace(mm, left=mm.right, right=mm.left, M=mm.N, N=mm.M, transposed_by=view_node))
