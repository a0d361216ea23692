"""Train a small convolutional network with lazyfuse on synthetic images (is
the bar in each 16x16 image horizontal or vertical?), with Conv2d, BatchNorm2d,
MaxPool2d, Dropout drawn on the device and cross_entropy; save the trained
weights, load them into a fresh model and report its accuracy. With --capture
the training step is replayed by lazyfuse.capture (dropout draws new masks on
every replay).

    python3 examples/train_cnn.py [--steps 30] [--device cpu] [--capture]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

import lazyfuse as torch
import lazyfuse.nn as nn


def bars(n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """n noisy 1x16x16 images, each with one bar; label 1 where the bar is vertical."""
    images = rng.standard_normal((n, 1, 16, 16)).astype(np.float32) * 0.5
    labels = rng.integers(0, 2, n)
    at = rng.integers(2, 14, n)
    for i in range(n):
        if labels[i]:
            images[i, 0, :, at[i]] += 2.0
        else:
            images[i, 0, at[i], :] += 2.0
    return images, labels


def network() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.25), nn.Linear(16 * 4 * 4, 2))


def accuracy(model: nn.Module, images, labels) -> float:
    model.eval()
    with torch.no_grad():
        return (model(images).argmax(1) == labels).float().mean().item()


def main(steps: int = 30, device: str = "cpu", capture: bool = False, out=sys.stdout) -> float:
    rng = np.random.default_rng(0)
    train_x, train_y = bars(64, rng)
    test_x, test_y = bars(256, rng)
    torch.manual_seed(0)
    model = network().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    images, labels = torch.tensor(train_x, device=device), torch.tensor(train_y, device=device)

    def train_step(images, labels):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        return loss
    if capture:
        train_step = torch.capture(train_step)
    model.train()
    start = time.perf_counter()
    for step in range(1, steps + 1):
        loss = train_step(images, labels).item()
        if step % 10 == 0 or step == steps:
            out.write(f"step {step:>4}  loss {loss:.4f}\n")
    out.write(f"trained {steps} steps in {time.perf_counter() - start:.2f} s\n")
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "cnn.pth")
        torch.save(model.state_dict(), path)
        restored = network().to(device)
        restored.load_state_dict(torch.load(path, map_location=device))
    score = accuracy(restored, torch.tensor(test_x, device=device), torch.tensor(test_y, device=device))
    out.write(f"{restored}\ntest accuracy of the saved and loaded model: {score:.3f}\n")
    return score


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--capture", action="store_true", help="replay the step with lazyfuse.capture")
    args = parser.parse_args()
    main(args.steps, args.device, args.capture)
