"""Several small OpenCL kernels compiled as one kernel function.

PoCL compiles every kernel function of a program on its own, at ~0.2 s each
however small it is (measured here: ten one-line kernels 2.2 s, the same ten
called from one kernel's `switch` 0.16 s), and that compile is most of a
tutorial's first run. So kernels that take little memory are built as plain
functions behind one dispatching kernel, `which` choosing the member; each
launch passes its member's buffers first and no buffer for the parameters it
does not use. Large kernels stay kernels of their own: the 8-op chain ran
12-25 % slower behind a dispatcher, where small kernels measured the same.
"""
from __future__ import annotations

from .opencl import RenderedKernel

# members per dispatching kernel: on PyTorch's nn.Transformer tutorial (~200 kernels,
# empty caches) groups of 4, 8 and 16 all took its first run from ~55 s to 35-38 s
KERNELS_PER_GROUP = 8
# kernels taking fewer bytes of arguments than this are grouped
GROUP_BELOW_BYTES = 1 << 20


def groups(rendered: list[RenderedKernel]) -> list[list[RenderedKernel]]:
    """The kernels to build together, each list one kernel function: a large kernel
    alone, small ones KERNELS_PER_GROUP at a time, in order of their buffer count:
    every launch passes as many buffers as its group's widest member takes (a
    68-buffer member made its group's launches 5 -> 11 us).
    Kernels launched one work-item per group (matrix products, whose private arrays
    take up to 28 KiB) are grouped only with each other: PoCL gives every work-item
    of a group its own copy of the dispatching kernel's private arrays, every
    member's, so a product grouped with a kernel of 256 work-items per group made
    its launches reserve 256 times the arrays on a worker thread's stack (14 MiB of
    its 8: a segfault inside the kernel in 1 of 7 first steps of a convolutional
    autoencoder)."""
    small = sorted([r for r in rendered if r.argument_bytes < GROUP_BELOW_BYTES], key=lambda r: len(r.args))
    large = [[r] for r in rendered if r.argument_bytes >= GROUP_BELOW_BYTES]
    alike = [[r for r in small if r.local_size == 1], [r for r in small if r.local_size != 1]]
    return large + [kind[i:i + KERNELS_PER_GROUP] for kind in alike for i in range(0, len(kind), KERNELS_PER_GROUP)]


def dispatcher_name(group: list[RenderedKernel]) -> str:
    return "group_" + group[0].name


def buffer_parameters(group: list[RenderedKernel]) -> int:
    """The dispatching kernel's buffer parameters (after `which`): as many as its widest member takes."""
    return max(len(r.args) for r in group)


def source(group: list[RenderedKernel]) -> str:
    """The code of a group's kernel function: its one kernel's body, or its members as
    plain functions and a kernel calling one of them (C converts the `void` pointers
    to the members' typed, restrict parameters)."""
    if len(group) == 1:
        return group[0].body
    functions, cases = [], []
    for which, r in enumerate(group):
        assert r.body.startswith("__kernel "), r.body[:40]
        functions.append(r.body.removeprefix("__kernel "))
        cases.append(f"    case {which}: {r.name}({', '.join(f'a{i}' for i in range(len(r.args)))}); return;")
    params = ", ".join(f"__global void* a{i}" for i in range(buffer_parameters(group)))
    return "\n".join(functions + [f"__kernel void {dispatcher_name(group)}(int which, {params}) {{",
                                  "  switch (which) {", *cases, "  }", "}"])
