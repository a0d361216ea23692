"""lazyfuse.backends: the flags PyTorch scripts set at their start
(`torch.backends.cudnn.benchmark = True`, `...deterministic = True`,
`torch.backends.cuda.matmul.allow_tf32 = True`) and the availability checks
they branch on (`torch.backends.mps.is_available()`).

lazyfuse uses neither cuDNN nor cuBLAS: its kernels are its own (Triton on
`cuda`, OpenCL elsewhere), always deterministic, and it computes float32 in
float32. The flags are kept so that such scripts run; they change nothing."""
from __future__ import annotations

from types import SimpleNamespace


def _unavailable() -> bool:
    return False


cudnn = SimpleNamespace(enabled=True, benchmark=False, deterministic=False, allow_tf32=True,
                        is_available=_unavailable, version=lambda: None)
mps = SimpleNamespace(is_available=_unavailable, is_built=_unavailable)
cuda = SimpleNamespace(matmul=SimpleNamespace(allow_tf32=False, allow_fp16_reduced_precision_reduction=True),
                       is_built=_unavailable)
