"""What bounding each sandbox with a cgroup costs the grader, measured directly.

    .venv/bin/python bench/sandbox_costs.py [--repeat 50]

Prints the median time (ms) of: finding where cgroups can be made (once per worker);
starting ``true`` plainly, and in a kernel's life with a cgroup (make it, start ``true``
in it, stop what is left, read its counters, remove it): the difference is what each
kernel start costs more; and the after-cell work on a quiet sandbox (list its processes,
stop none, read its counters), per cell. ``grading_speed.py`` measures the whole
per-notebook overhead (2.10 s in the README's figures). Needs a
usable cgroup (run as root where cgroups are mounted).
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from typing import Callable

from autograder.grading.sandbox import find_parent, processes


def median_ms(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    parent, why = find_parent()
    if parent is None:
        print(f"no cgroup can be made here: {why}", file=sys.stderr)
        return 2

    def kernel_life() -> None:
        group = parent.create(6144, 136)
        subprocess.run(group.enter() + ["true"], check=True)
        processes.stop(group)
        group.usage()
        group.remove()

    plain = median_ms(lambda: subprocess.run(["true"], check=True), args.repeat)
    life = median_ms(kernel_life, args.repeat)
    print(f"{parent.describe()}")
    print(f"finding where cgroups go (once per worker): {median_ms(find_parent, max(5, args.repeat // 5)):.2f} ms")
    print(f"per kernel: 'true' plainly {plain:.2f} ms, in a cgroup's whole life {life:.2f} ms: +{life - plain:.2f} ms")
    group = parent.create(6144, 136)
    sleeper = subprocess.Popen(group.enter() + ["sleep", "60"])
    try:
        time.sleep(0.1)
        per_cell = median_ms(lambda: (processes.stop(group, keep={sleeper.pid}), group.usage()), args.repeat * 4)
        print(f"per cell: stopping what a cell left (nothing) and reading the counters: {per_cell:.3f} ms")
    finally:
        sleeper.kill()
        sleeper.wait()
        group.remove()
    return 0


if __name__ == "__main__":
    sys.exit(main())
