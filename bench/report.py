"""Run every workload on every available system and report medians, ranges and
ratios measured in this one run: `python -m bench.report [--quick] [--out DIR]`.
Writes report.md and, with matplotlib installed, report.png."""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from .peers import openblas_note, optional
from .workloads import Workload, all_workloads


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# timed calls of each system are spread over this many rounds
ROUNDS = 3
# pause before a system takes its turn: OpenBLAS's threads keep spinning after a call
# (measured: a lazyfuse 1024 matmul right after numpy's took 28 ms, 0.2 s later 21 ms)
SETTLE_SECONDS = 0.2


def measure(systems: dict, repeats: int) -> dict:
    """Each system's first call, then ROUNDS rounds in which every system in turn
    pauses, makes one untimed call and then its share of the `repeats` timed ones.
    Noise that comes and goes on this shared machine then lands on every system
    rather than on one system's whole series; the pause and the untimed call
    absorb what the previous system left behind (threads still spinning, caches
    full of its data)."""
    first = {name: _seconds(fn) for name, fn in systems.items()}
    times: dict[str, list[float]] = {name: [] for name in systems}
    per_round = -(-repeats // ROUNDS)
    for _ in range(ROUNDS):
        for name, fn in systems.items():
            time.sleep(SETTLE_SECONDS)
            fn()
            times[name] += [_seconds(fn) for _ in range(per_round)]
    return {name: {"first": first[name], "median": statistics.median(t), "min": min(t), "max": max(t)}
            for name, t in times.items()}


def run(workloads: list[Workload], repeats: int) -> dict:
    results = {}
    for w in workloads:
        results[w.name] = measure(w.systems, repeats)
        for system, r in results[w.name].items():
            print(f"  {w.name:<32} {system:<20} {r['median'] * 1e3:9.2f} ms", flush=True)
    return results


def markdown(workloads: list[Workload], results: dict) -> str:
    lines = [f"Medians over {ROUNDS} rounds that run every system in turn, on the `cpu` device (min-max in "
             f"brackets); ratio = system time / lazyfuse time (above 1: lazyfuse is faster). {openblas_note()}.", "",
             "| workload | system | first call (ms) | steady (ms) | GB/s | GFLOP/s | ratio to lazyfuse |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for w in workloads:
        ours = results[w.name].get("lazyfuse", {}).get("median")
        for system, r in results[w.name].items():
            ratio = f"{r['median'] / ours:.2f}" if ours else "-"
            gflops = f"{w.flops / r['median'] / 1e9:.1f}" if w.flops else ""
            lines.append(f"| {w.name} | {system} | {r['first'] * 1e3:.1f} | {r['median'] * 1e3:.2f} "
                         f"({r['min'] * 1e3:.2f}-{r['max'] * 1e3:.2f}) | {w.nbytes / r['median'] / 1e9:.1f} | "
                         f"{gflops} | {ratio} |")
        for system, why in w.missing.items():
            lines.append(f"| {w.name} | {system} | skipped: {why} | | | | |")
    return "\n".join(lines) + "\n"


def plot(workloads: list[Workload], results: dict, path: Path) -> str:
    plt, why = optional("matplotlib.pyplot")
    if plt is None:
        return f"no plot: {why}"
    memory = [w for w in workloads if not w.flops and w.nbytes]
    compute = [w for w in workloads if w.flops]
    fig, axes = plt.subplots(1, 2, figsize=(16, 5), gridspec_kw={"width_ratios": [3, 1]})
    everyone = sorted({s for w in memory + compute for s in results[w.name]})
    colour = {system: f"C{i % 10}" for i, system in enumerate(everyone)}  # one colour per system in both panels
    for ax, group, per_second, unit in ((axes[0], memory, "nbytes", "GB/s"), (axes[1], compute, "flops", "GFLOP/s")):
        systems = sorted({s for w in group for s in results[w.name]})
        width = 0.8 / max(len(systems), 1)
        for i, system in enumerate(systems):
            values = [getattr(w, per_second) / results[w.name][system]["median"] / 1e9
                      if system in results[w.name] else 0 for w in group]
            ax.bar(np.arange(len(group)) + i * width, values, width, label=system, color=colour[system])
        ax.set_xticks(np.arange(len(group)) + 0.4, [w.name for w in group], rotation=20, ha="right")
        ax.set_ylabel(f"{unit} (higher is better)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    return f"plot written to {path}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="only the 8-op chain among the chains")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()
    workloads = all_workloads(np.random.default_rng(0), quick=args.quick)
    results = run(workloads, args.repeats)
    args.out.mkdir(parents=True, exist_ok=True)
    table = markdown(workloads, results)
    (args.out / "report.md").write_text(table)
    print(table)
    print(plot(workloads, results, args.out / "report.png"))


if __name__ == "__main__":
    main()
