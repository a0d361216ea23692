"""torch.nn.utils.rnn's pad_sequence: sequences of different lengths padded to
the longest and stacked (packed sequences are not supported)."""
from __future__ import annotations

from ...functional import stack
from ...tensor import Tensor
from ..functional import pad


def pad_sequence(sequences, batch_first: bool = False, padding_value: float = 0.0,
                 padding_side: str = "right") -> Tensor:
    """(longest, batch, *) (or (batch, longest, *) with batch_first) from tensors of
    shape (length, *), padded with padding_value after (or before) each."""
    if padding_side not in ("right", "left"):
        raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError("received an empty list of sequences")
    longest = max(s.shape[0] for s in sequences)
    padded = []
    for s in sequences:
        extra = longest - s.shape[0]
        first = (0, extra) if padding_side == "right" else (extra, 0)
        padded.append(pad(s, (0, 0) * (s.ndim - 1) + first, value=padding_value))  # (F.pad lists the last dim first)
    return stack(padded, 0 if batch_first else 1)
