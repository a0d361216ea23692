"""Compile rendered Triton kernels for real NVIDIA GPUs (PTX and cubin), which
needs no GPU: proof that kernels tested in the interpreter also build for
hardware. Runs in a child process, because the interpreter patches
triton.language in the process that uses it.

    python -m lazyfuse.kernels.triton_compile < kernels.json
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile

CAPABILITIES = (80, 90)  # sm_80 (A100) and sm_90 (H100)


def _compile_one(kernel: dict, capability: int, directory: str) -> None:
    """Triton reads a kernel's source from its file: it is written into `directory`."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    with tempfile.NamedTemporaryFile("w", suffix=".py", dir=directory, delete=False) as f:
        f.write(kernel["source"])
    spec = importlib.util.spec_from_file_location(f"lazyfuse_compile_{kernel['name']}", f.name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    source = ASTSource(fn=getattr(module, kernel["name"]), signature=kernel["signature"],
                       constexprs=kernel["constexprs"])
    compiled = triton.compile(source, target=GPUTarget("cuda", capability, 32),
                              options={"num_warps": kernel["num_warps"]})
    assert compiled.asm.get("ptx") and compiled.asm.get("cubin"), "no PTX or cubin produced"


def main() -> None:
    kernels = json.load(sys.stdin)
    results = {}
    with tempfile.TemporaryDirectory(prefix="lazyfuse-compile-") as directory:
        for number, kernel in enumerate(kernels):
            for capability in CAPABILITIES:
                key = f"{number}:{kernel['name']}@sm_{capability}"  # names repeat across dtypes
                try:
                    _compile_one(kernel, capability, directory)
                    results[key] = "ok"
                except Exception as e:  # noqa: BLE001 - every failure is reported, not raised
                    results[key] = f"{type(e).__name__}: {e}"
    json.dump(results, sys.stdout)


def compile_in_child(rendered_kernels) -> dict[str, str]:
    """{"n:kernel@sm_XX": "ok" or the error} for each rendered kernel and capability."""
    payload = json.dumps([{"name": r.name, "source": r.source, "signature": r.signature,
                           "constexprs": r.constexprs, "num_warps": r.num_warps} for r in rendered_kernels])
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env.setdefault("TRITON_DEFAULT_FP_FUSION", "1")
    done = subprocess.run([sys.executable, "-m", "lazyfuse.kernels.triton_compile"], input=payload,
                          capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout)


if __name__ == "__main__":
    main()
