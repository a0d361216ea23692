"""Train a small MLP on a synthetic regression task with lazyfuse, printing a
progress bar with the loss and the kernels each step launched. With
--capture the step is replayed by lazyfuse.capture: same kernels, same
losses, none of the step's Python after the first calls.

    python3 examples/train_mlp.py [--steps 200] [--device cpu] [--capture]
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import lazyfuse as torch
import lazyfuse.nn as nn


def progress(step: int, total: int, loss: float, kernels: int, width: int = 30) -> str:
    done = int(width * step / total)
    return f"\r[{'#' * done}{'.' * (width - done)}] step {step}/{total}  loss {loss:.5f}  kernels/step {kernels}"


def main(steps: int = 200, device: str = "cpu", capture: bool = False, out=sys.stdout) -> float:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((512, 16)).astype(np.float32)
    y = (np.sin(x[:, :1] * 2) + 0.5 * x[:, 1:2] ** 2).astype(np.float32)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 1)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = nn.MSELoss()
    inputs, targets = torch.tensor(x, device=device), torch.tensor(y, device=device)

    def train_step(inputs, targets):
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        return loss
    if capture:
        train_step = torch.capture(train_step)
    start = time.perf_counter()
    for step in range(1, steps + 1):
        with torch.profile() as prof:
            value = train_step(inputs, targets).item()
        out.write(progress(step, steps, value, len(prof.kernels)))
        out.flush()
    out.write(f"\ntrained {steps} steps in {time.perf_counter() - start:.2f} s\n")
    return value


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--capture", action="store_true", help="replay the step with lazyfuse.capture")
    args = parser.parse_args()
    main(args.steps, args.device, args.capture)
