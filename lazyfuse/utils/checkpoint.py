"""torch.utils.checkpoint's functions. PyTorch's checkpointing frees a segment's
intermediate values and computes them again in the backward pass, trading time for
memory; lazyfuse computes each segment once, the graph holding what the backward
reads, so a checkpointed call gives the same values and gradients as a plain one."""
from __future__ import annotations


def checkpoint(function, *args, use_reentrant=None, context_fn=None, determinism_check: str = "default",
               debug: bool = False, preserve_rng_state: bool = True, **kwargs):
    return function(*args, **kwargs)


def checkpoint_sequential(functions, segments: int, input, use_reentrant=None, **kwargs):
    """The modules (or a Sequential's children) applied in turn to `input`."""
    modules = list(functions.children()) if hasattr(functions, "children") else list(functions)
    for module in modules:
        input = module(input)
    return input
