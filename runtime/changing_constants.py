"""Constants whose value changes from one run of a computation to the next become
device scalars, so that one schedule and one set of programs serve every value.

A Python number in an expression is a CONST node, and the renderers write it into
the kernel's source. A loop changing such a number at every step (a learning rate
decayed by hand: `w -= lr * w.grad`) would build new programs at every step, each
costing a compile of hundreds of milliseconds. So when a graph's structure comes
back with other values at some of its constants, those constants are marked as
changing, and from then on they are uploaded as 0-d buffers read through a
broadcast before a graph of that structure is scheduled: the schedule takes them
as inputs. The second value costs one more compile, later values none
(torch.compile's "automatic dynamic" treats the scalars it sees change alike).
Exponents of powers stay constants (a new exponent compiles anew).
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from .graph import Node, Op
from .view import View

# structures (the constants' values erased) remembered with the values last seen
MAX_REMEMBERED = 256

# structure with the constants' values erased -> the structure's parts last seen
_last_seen: "OrderedDict[tuple, tuple]" = OrderedDict()
# the same keys -> positions in the walk's order of the constants seen to change
_changing: dict[tuple, frozenset[int]] = {}


def lift(order: list[Node], structure: tuple, upload) -> bool:
    """Turn the constants of `order` that were seen to change, at this structure's
    positions, into views of 0-d buffers that `upload(array, dtype)` returns as
    nodes; True when there was any (the graph's structure has then changed).
    `structure` is realize's walk of `order`: (parts, target positions)."""
    parts, targets = structure
    # a power's exponent stays in the source: the OpenCL renderer computes x ** 0.5 as a
    # square root and the other exponents PyTorch special-cases as PyTorch does
    exponents = {part[4][1] for part in parts if part[0] is Op.POW}
    constants = [i for i, part in enumerate(parts) if part[0] is Op.CONST and i not in exponents]
    if not constants:
        return False
    erased = list(parts)
    for i in constants:
        op, (type_name, _), shape, dtype, srcs = parts[i]
        erased[i] = (op, type_name, shape, dtype, srcs)
    key = (tuple(erased), targets)
    changing = _changing.get(key, frozenset())
    previous = _last_seen.get(key)
    if previous is not None:
        changed = frozenset(i for i in constants if previous[i] != parts[i]) - changing
        if changed:
            changing = _changing[key] = changing | changed
    _last_seen[key] = parts
    _last_seen.move_to_end(key)
    if len(_last_seen) > MAX_REMEMBERED:
        _changing.pop(_last_seen.popitem(last=False)[0], None)
    for i in changing:
        node = order[i]
        scalar = upload(np.array(node.arg, dtype=node.dtype.np_dtype), node.dtype)
        if node.shape:
            node.read_through(scalar, View._make(node.shape, (0,) * len(node.shape), 0, None))
        else:
            node.set_buffer(scalar.buffer)
    return bool(changing)
