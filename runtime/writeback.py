"""Writing through views: the new value of a tensor after an in-place op on
one of its views, built from lazy nodes (masks and padding), so the write
fuses like any other op."""
from __future__ import annotations

from . import dtypes, movement
from .graph import Node, Op

# a view step: (movement function name, its argument), as applied by the Tensor front
Step = tuple[str, tuple]


def replay(node: Node, steps: list[Step]) -> Node:
    """Apply view steps to a node."""
    for name, arg in steps:
        node = getattr(movement, name)(node, arg)
    return node


def write_through(base: Node, steps: list[Step], value: Node) -> Node:
    """`base` with the part that `steps` selects replaced by `value`."""
    if not steps:
        return value
    (name, arg), rest = steps[0], steps[1:]
    inner = write_through(replay(base, [steps[0]]), rest, value)
    if name == "reshape":
        return movement.reshape(inner, base.shape)
    if name == "permute":
        return movement.permute(inner, tuple(sorted(range(len(arg)), key=lambda d: arg[d])))
    if name in ("expand", "windows"):
        raise RuntimeError("unsupported operation: more than one element of the written-to tensor refers to a "
                           "single memory location. Please clone() the tensor before performing the operation.")
    # shrink or stride: place the new values, keep the old ones elsewhere
    placed = replay(inner, embed_steps(inner.shape, base.shape, name, arg))
    where = replay(_ones(inner), embed_steps(inner.shape, base.shape, name, arg))
    return Node.make(Op.WHERE, (where, placed, base), None, base.shape, base.dtype, base.device)


def _ones(node: Node) -> Node:
    return Node.make(Op.CONST, (), True, node.shape, dtypes.bool_, node.device)


def embed_steps(shape: tuple[int, ...], full: tuple[int, ...], name: str, arg: tuple) -> list[Step]:
    """Movement steps taking a `shape` result of shrink or stride (`name`, `arg`) on
    a `full`-shaped value back to `full`'s shape, zeros where nothing was selected.
    Autograd uses the same steps for the gradient of shrink and stride."""
    if name == "shrink":
        return [("pad", tuple((lo, s - hi) for (lo, hi), s in zip(arg, full)))]
    steps: list[Step] = []
    shape = tuple(shape)
    for d, step in enumerate(map(abs, arg)):  # spread each dim: (m,) -> (m, 1) -> padded (m, step) -> (m*step,) -> first n
        if step == 1:
            continue
        m = shape[d]
        split = shape[:d] + (m, 1) + shape[d + 1:]
        spread = shape[:d] + (m * step,) + shape[d + 1:]
        steps += [("reshape", split),
                  ("pad", tuple((0, step - 1) if i == d + 1 else (0, 0) for i in range(len(split)))),
                  ("reshape", spread),
                  ("shrink", tuple((0, full[d]) if i == d else (0, s) for i, s in enumerate(spread)))]
        shape = shape[:d] + (full[d],) + shape[d + 1:]
    if any(step < 0 for step in arg):  # a negative step walked its dim backwards (see View.stride): turn it back
        steps.append(("stride", tuple(-1 if step < 0 else 1 for step in arg)))
    return steps
