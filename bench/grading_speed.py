"""Grading speed: plain serial ``nbgrader autograde`` vs ``python -m autograder grade``.

    .venv/bin/python bench/grading_speed.py [--n 40] [--workers 2] [--overhead-sample 10]

Grades the same N submissions (the chapter 1 solution, every tenth with a bug), from one
run, and prints:

* the speed-up: serial nbgrader's wall time / ours with ``--workers`` (target >= 1.8x
  with 2 workers on 2 cores). Both timings cover grading only (each course is prepared
  first); ours includes starting its workers and writing the gradebook and reports.
* the per-notebook overhead: what the grader spends on one notebook besides running its
  cells, against a bare kernel start plus ``import torch`` (target <= 1.3x). Measured with
  one worker on the first ``--overhead-sample`` submissions, so that one kernel runs at a
  time, as in the bare measurement: the worker's own wall time per submission (median),
  minus the time the notebook's cells take in a warm kernel (median of 3). The bare start
  is the median of 10, half taken before the grading runs and half after. For comparison
  it also prints the same figure taken from the parallel run (its wall time x workers /
  N), which adds the batch's fixed costs and two workers sharing two cores.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

A, NB = "01-activations", "activations.ipynb"


def bare_kernel_times(repeat: int = 5) -> list[float]:
    """Seconds to start a python kernel and ``import torch`` in it, ``repeat`` times."""
    from jupyter_client.manager import start_new_kernel

    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        km, kc = start_new_kernel(kernel_name="python3")
        kc.execute_interactive("import torch", timeout=120)
        times.append(time.perf_counter() - t)
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    return times


def warm_execution_seconds(path: Path, repeat: int = 3) -> float:
    """Median seconds to run ``path``'s cells in a kernel that already imported torch and the checks."""
    import nbformat
    from jupyter_client.manager import start_new_kernel

    nb = nbformat.read(path, as_version=4)
    times = []
    for _ in range(repeat):
        km, kc = start_new_kernel(kernel_name="python3")
        kc.execute_interactive("import torch, autograder.checks", timeout=120)
        t = time.perf_counter()
        for cell in nb.cells:
            if cell.cell_type == "code":
                kc.execute_interactive(cell.source, timeout=300, output_hook=lambda msg: None)
        times.append(time.perf_counter() - t)
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    return statistics.median(times)


def grade_ours(subs: Path, out: Path, workers: int, *extra: str) -> float:
    """Wall seconds of ``python -m autograder grade [extra]`` (its course prepared first)."""
    from autograder.grading.prepared import prepare_course, source_digest

    prepare_course(out, A, source_digest(sorted((REPO / "solutions" / A).glob("*.ipynb"))))
    cmd = [sys.executable, "-m", "autograder", "grade", str(subs), "--assignment", A, "--out", str(out),
           "--workers", str(workers), "--no-similarity", *extra]
    t = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if done.returncode != 0:
        sys.exit(done.stderr)
    return elapsed


def main() -> None:
    from autograder.course import Course
    from nbgrader_e2e import solution_class

    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--overhead-sample", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        tmp = Path(tmp)
        subs, sample = tmp / "submissions", tmp / "sample"
        solution_class(subs, args.n)
        for i in range(min(args.n, args.overhead_sample)):
            shutil.copytree(subs / f"s{i:03d}", sample / f"s{i:03d}")

        bare_times = bare_kernel_times()  # before and after the grading runs: the median of both
        course = Course(tmp / "serial", timeout=300)
        course.add_source(A)
        for folder in sorted(subs.iterdir()):
            course.submit(folder.name, A, folder / NB)
        t = time.perf_counter()
        course.autograde(A)
        serial = time.perf_counter() - t
        ours = grade_ours(subs, tmp / "ours", args.workers)

        grade_ours(sample, tmp / "one", 1)
        per_task = statistics.median(json.loads(p.read_text())["answer"]["seconds"]
                                     for p in (tmp / "one" / "results").glob("*.json"))
        bare = statistics.median(bare_times + bare_kernel_times())
        warm = warm_execution_seconds(subs / "s000" / NB)

    print(f"{args.n} submissions; serial nbgrader autograde {serial:.1f} s; "
          f"autograder grade --workers {args.workers} {ours:.1f} s")
    print(f"speed-up: {serial / ours:.2f}x (target >= 1.8x with 2 workers on 2 cores)")
    overhead = per_task - warm
    print(f"per notebook, one worker ({args.overhead_sample} submissions): {per_task:.2f} s (median), of which "
          f"running the cells {warm:.2f} s -> overhead {overhead:.2f} s; bare kernel start + import torch "
          f"{bare:.2f} s; ratio {overhead / bare:.2f} (target <= 1.3)")
    parallel = ours * args.workers / args.n - warm
    print(f"  the same from the parallel run (wall x {args.workers} / {args.n}, fixed costs and shared cores "
          f"included): overhead {parallel:.2f} s, ratio {parallel / bare:.2f}")


if __name__ == "__main__":
    main()
