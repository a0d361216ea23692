"""einsum: each operand's labels moved to one common order (a view; a label
repeated within an operand takes its diagonal), the operands multiplied with
broadcasting, and the labels missing from the output summed. A product of two
operands is the same multiply-reduce as matmul, so the scheduler gives a large
one its tiled kernel."""
from __future__ import annotations

import string

from .tensor import Tensor

_LETTERS = set(string.ascii_letters)


def einsum(equation: str, *operands) -> Tensor:
    operands = list(operands[0]) if len(operands) == 1 and isinstance(operands[0], (list, tuple)) else list(operands)
    inputs, output = _parse(equation.replace(" ", ""), operands)
    order = list(dict.fromkeys("".join(inputs)))
    aligned = [_align(t, labels, order) for t, labels in zip(operands, inputs)]
    out = aligned[0]
    for t in aligned[1:]:
        out = out * t
    summed = tuple(d for d, label in enumerate(order) if label not in output)
    if summed:
        out = out.sum(summed)
    kept = [label for label in order if label in output]
    return out.permute(*[kept.index(label) for label in output]) if kept else out


def _parse(equation: str, operands: list) -> tuple[list[str], str]:
    """Each operand's labels and the output's, with "..." replaced by upper-case-free
    placeholder labels for the dims it stands for."""
    left, arrow, right = equation.partition("->")
    inputs = left.split(",")
    if len(inputs) != len(operands):
        raise ValueError(f"einsum(): {len(inputs)} operands in the equation but {len(operands)} given")
    spare = [c for c in string.ascii_uppercase + string.ascii_lowercase if c not in equation]
    ellipsis = ""
    for i, (labels, t) in enumerate(zip(inputs, operands)):
        named = len(labels.replace("...", ""))
        if "..." in labels:
            stands_for = t.ndim - named
            ellipsis = ellipsis if len(ellipsis) >= stands_for else "".join(spare[:stands_for])
            labels = labels.replace("...", ellipsis[len(ellipsis) - stands_for:])
        if len(labels) != t.ndim or not set(labels) <= _LETTERS | set(spare):
            raise ValueError(f"einsum(): the subscripts for operand {i} ({inputs[i]!r}) do not match its "
                             f"{t.ndim} dimensions")
        inputs[i] = labels
    if arrow:
        output = right.replace("...", ellipsis)
    else:  # implicit: the ellipsis, then the labels used once, in alphabetical order
        counts = "".join(inputs)
        output = ellipsis + "".join(sorted(c for c in set(counts) if counts.count(c) == 1 and c not in ellipsis))
    if not set(output) <= set("".join(inputs)):
        raise ValueError(f"einsum(): output subscript {output!r} names a label no operand has")
    return inputs, output


def _align(t: Tensor, labels: str, order: list[str]) -> Tensor:
    """t viewed with one dim per label of `order` (size 1 where it lacks the label)."""
    while len(set(labels)) < len(labels):  # a repeated label: its diagonal
        label = next(c for c in labels if labels.count(c) > 1)
        first, second = labels.index(label), labels.index(label, labels.index(label) + 1)
        t = t.diagonal(0, first, second)
        labels = labels[:first] + labels[first + 1:second] + labels[second + 1:] + label
    present = [label for label in order if label in labels]
    t = t.permute(*[labels.index(label) for label in present])
    shape = [t.shape[present.index(label)] if label in labels else 1 for label in order]
    return t.reshape(*shape)
