"""PyTorch-style printing of tensors, and set_printoptions."""
from __future__ import annotations

import numpy as np

from lazyfuse.runtime import dtypes

# PyTorch's defaults; set_printoptions changes them
_DEFAULTS = dict(precision=4, threshold=1000, edgeitems=3, linewidth=80, sci_mode=None)
_PROFILES = {"default": _DEFAULTS, "short": dict(precision=2, threshold=1000, edgeitems=2, linewidth=80),
             "full": dict(precision=4, threshold=float("inf"), edgeitems=3, linewidth=80)}
_options = dict(_DEFAULTS)


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None,
                     sci_mode=None) -> None:
    """As torch.set_printoptions: digits after the point, how many elements a tensor may
    have before it is summarised with edgeitems at each end, the line width, a profile
    ("default", "short", "full") to start from, and scientific notation forced on or
    off (None: chosen from the values)."""
    if profile is not None:
        _options.update(_PROFILES[profile])
    for name, value in (("precision", precision), ("threshold", threshold), ("edgeitems", edgeitems),
                        ("linewidth", linewidth)):
        if value is not None:
            _options[name] = value
    _options["sci_mode"] = sci_mode


def _float_formatter(values: np.ndarray):
    """PyTorch's choice: whole numbers as "3.", scientific notation when the nonzero
    magnitudes span more than 1000x or pass 1e8 (or, for fractions, fall below 1e-4)."""
    digits, sci = _options["precision"], _options["sci_mode"]
    finite = values[np.isfinite(values)]
    magnitudes = np.abs(finite[finite != 0])
    if not magnitudes.size:  # zeros, infinities, NaN: as whole numbers, whatever sci_mode says
        return lambda v: f"{v:.0f}." if np.isfinite(v) else str(v)
    integral = bool(np.all(finite == np.ceil(finite)))
    if sci is None:
        low, high = magnitudes.min(), magnitudes.max()
        sci = bool(high / low > 1000 or high > 1e8 or (not integral and low < 1e-4))
    if integral and not sci:
        return lambda v: f"{v:.0f}." if np.isfinite(v) else str(v)
    return (lambda v: f"{v:.{digits}e}") if sci else (lambda v: f"{v:.{digits}f}" if np.isfinite(v) else str(v))


def _summarized(values: np.ndarray, edge: int) -> np.ndarray:
    """The elements a summarised print shows: the first and last `edge` along each dim."""
    if values.ndim == 0:
        return values
    if len(values) > 2 * edge:
        values = np.concatenate([values[:edge], values[len(values) - edge:]])
    return np.stack([_summarized(v, edge) for v in values]) if values.ndim > 1 and len(values) else values


def _kept(n: int, summarize: bool, edge: int) -> list:
    """The positions along a dim that a print shows, None where a summary elides."""
    if summarize and n > 2 * edge:
        return list(range(edge)) + [None] + list(range(n - edge, n))
    return list(range(n))


def _nested(values: np.ndarray, indent: int, summarize: bool, fmt, per_line: int, edge: int) -> str:
    """PyTorch's layout: rows wrapped at the line width, a blank line per dim above two
    between blocks, and "..." for the rows and elements a summary leaves out."""
    kept = _kept(len(values), summarize, edge)
    if values.ndim > 1:
        parts = ["..." if i is None else _nested(values[i], indent + 1, summarize, fmt, per_line, edge) for i in kept]
        return "[" + ("," + "\n" * (values.ndim - 1) + " " * (indent + 1)).join(parts) + "]"
    items = [" ..." if i is None else fmt(values[i]) for i in kept] if edge or not summarize else ["..."]
    lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"


def format_values(values: np.ndarray, indent: int = len("tensor(")) -> str:
    """The values as PyTorch prints them, `indent` columns in."""
    if values.size == 0:
        return "[]"
    edge = _options["edgeitems"]
    summarize = values.size > _options["threshold"]
    shown = _summarized(values, edge) if summarize else values
    if values.dtype.kind == "f":
        plain = _float_formatter(shown.astype(np.float64))
    elif values.dtype.kind == "b":
        plain = lambda v: "True" if v else "False"  # noqa: E731
    else:
        plain = str
    width = max((len(plain(v)) for v in shown.ravel()), default=0)
    if values.ndim == 0:
        return plain(values.item())
    per_line = max(1, (_options["linewidth"] - indent) // (width + 2))
    return _nested(values, indent, summarize, lambda v: plain(v).rjust(width), per_line, edge)


def tensor_repr(t) -> str:
    values = t._value()
    text = format_values(values)
    extras = []
    if values.size == 0 and values.ndim != 1 or values.size and not _options["edgeitems"]:
        extras.append(f"size={tuple(values.shape)}")  # as PyTorch: where the values may not show it
    if t.device.type != "cpu":
        extras.append(f"device='{t.device}'")
    shown_without = (dtypes.default_float, dtypes.int64, dtypes.bool_)
    if t.dtype not in shown_without or (values.size == 0 and t.dtype is not dtypes.default_float):
        extras.append(f"dtype=lazyfuse.{t.dtype.name}")
    if t.grad_fn is not None:
        extras.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        extras.append("requires_grad=True")
    return "tensor(" + ", ".join([text] + extras) + ")"
