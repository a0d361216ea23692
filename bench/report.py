"""Run every workload on every available system and report medians, ranges and
ratios measured in this one run: `python -m bench.report [--quick] [--out DIR]`.
Writes report.md and, with matplotlib installed, report.png."""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from . import targets
from .peers import openblas_note, optional
from .workloads import Workload, all_workloads


def _seconds(fn, self_timed: bool) -> float:
    start = time.perf_counter()
    reported = fn()
    return reported if self_timed else time.perf_counter() - start


# timed calls of each system are spread over this many rounds (noise on this shared machine
# comes in phases of seconds to minutes; more rounds spread each system over more of them)
ROUNDS = 5
# a system keeps repeating its calls in a round until they add up to this much time: a
# 0.1 ms workload then gets thousands of samples, not a few taken in the transient after
# the pause (measured for x + 1 read back: with 50 ms rounds raw PyOpenCL took 60-80 us
# and lazyfuse 110-130 us; with 0.5 s rounds 100-130 us and 87-91 us)
ROUND_SECONDS = 0.5
# pause before a system takes its turn: OpenBLAS's threads keep spinning after a call
# (measured: a lazyfuse 1024 matmul right after numpy's took 28 ms, 0.2 s later 21 ms)
SETTLE_SECONDS = 0.2


def measure(systems: dict, repeats: int, self_timed: bool = False) -> dict:
    """Each system's first call, then ROUNDS rounds in which every system in turn
    pauses, makes one untimed call and then its share of the `repeats` timed ones,
    or more until they add up to ROUND_SECONDS.
    Noise that comes and goes on this shared machine then lands on every system
    rather than on one system's whole series; the pause and the untimed call
    absorb what the previous system left behind (threads still spinning, caches
    full of its data). `self_timed`: each call returns the seconds it measured."""
    first = {name: _seconds(fn, self_timed) for name, fn in systems.items()}
    times: dict[str, list[float]] = {name: [] for name in systems}
    per_round = -(-repeats // ROUNDS)
    for _ in range(ROUNDS):
        for name, fn in systems.items():
            time.sleep(SETTLE_SECONDS)
            fn()
            taken = [_seconds(fn, self_timed) for _ in range(per_round)]
            total = sum(taken)
            while total < ROUND_SECONDS:
                taken.append(_seconds(fn, self_timed))
                total += taken[-1]
            times[name] += taken
    return {name: {"first": first[name], "median": statistics.median(t), "min": min(t), "max": max(t)}
            for name, t in times.items()}


def run(workloads: list[Workload], repeats: int) -> dict:
    results = {}
    for w in workloads:
        results[w.name] = measure(w.systems, repeats, w.self_timed)
        for system, r in results[w.name].items():
            print(f"  {w.name:<32} {system:<20} {r['median'] * 1e3:9.2f} ms", flush=True)
    return results


def markdown(workloads: list[Workload], results: dict) -> str:
    lines = [(f"Medians over {ROUNDS} rounds that run every system in turn, each for at least {ROUND_SECONDS} s, "
              f"on the `cpu` device (min-max in "
              f"brackets); ratio = system time / lazyfuse time (above 1: lazyfuse is faster). {openblas_note()}."), "",
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
    goals = targets.markdown(results)
    return "\n".join(lines) + "\n" + (f"\nTargets, as ratios measured in this run:\n\n{goals}" if goals else "")


def plot(workloads: list[Workload], results: dict, path: Path) -> str:
    """Steady time of every workload (log scale, min-max whiskers) above GB/s of the
    memory-bound workloads and GFLOP/s of the matrix products."""
    plt, why = optional("matplotlib.pyplot")
    if plt is None:
        return f"no plot: {why}"
    memory = [w for w in workloads if not w.flops and w.nbytes]
    compute = [w for w in workloads if w.flops]
    fig = plt.figure(figsize=(16, 10))
    grid = fig.add_gridspec(2, 2, width_ratios=[3, 1])
    everyone = sorted({s for w in workloads for s in results[w.name]}, key=lambda s: (s != "lazyfuse", s))
    # one colour per system, the same in every panel: strong ones first (lazyfuse gets the first)
    palette = plt.get_cmap("tab10").colors + plt.get_cmap("tab20").colors[1::2]
    colour = {system: palette[i % len(palette)] for i, system in enumerate(everyone)}

    def seconds_to(unit_per_second):
        return lambda w, r: unit_per_second(w) / r / 1e9

    panels = ((fig.add_subplot(grid[0, :]), workloads, lambda w, r: r * 1e3, "steady time, ms (lower is better)"),
              (fig.add_subplot(grid[1, 0]), memory, seconds_to(lambda w: w.nbytes), "GB/s (higher is better)"),
              (fig.add_subplot(grid[1, 1]), compute, seconds_to(lambda w: w.flops), "GFLOP/s (higher is better)"))
    for ax, group, value, label in panels:
        _bars(ax, group, results, colour, value, label, whiskers=ax is panels[0][0])
    handles = [plt.Rectangle((0, 0), 1, 1, color=colour[system]) for system in everyone]
    fig.legend(handles, everyone, loc="upper center", ncol=6, fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    fig.savefig(path)
    return f"plot written to {path}"


def _bars(ax, group: list[Workload], results: dict, colour: dict, value, label: str, whiskers: bool) -> None:
    """One bar per system and workload; value(workload, seconds) is what the bar shows."""
    systems = sorted({s for w in group for s in results[w.name]})
    width = 0.8 / max(len(systems), 1)
    for i, system in enumerate(systems):
        ran = [w for w in group if system in results[w.name]]
        x = [group.index(w) + i * width for w in ran]
        heights = [value(w, results[w.name][system]["median"]) for w in ran]
        bounds = [sorted((value(w, results[w.name][system]["min"]), value(w, results[w.name][system]["max"])))
                  for w in ran]
        errors = np.array([[h - lo for h, (lo, _) in zip(heights, bounds)], [hi - h for h, (_, hi) in zip(heights, bounds)]])
        ax.bar(x, heights, width, color=colour[system], yerr=errors if whiskers else None,
               error_kw={"elinewidth": 0.6, "capsize": 1})
    if whiskers:
        ax.set_yscale("log")
    ax.set_xticks(np.arange(len(group)) + 0.4, [w.name for w in group], rotation=20, ha="right", fontsize=8)
    ax.set_ylabel(label)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="only the 8-op chain among the chains")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--only", default="", help="only workloads whose name contains this text")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()
    workloads = [w for w in all_workloads(np.random.default_rng(0), quick=args.quick) if args.only in w.name]
    results = run(workloads, args.repeats)
    args.out.mkdir(parents=True, exist_ok=True)
    table = markdown(workloads, results)
    (args.out / "report.md").write_text(table)
    print(table)
    print(plot(workloads, results, args.out / "report.png"))


if __name__ == "__main__":
    main()
