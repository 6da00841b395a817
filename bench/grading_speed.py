"""Grading speed: plain serial ``nbgrader autograde`` vs ``python -m autograder grade --workers 2``.

    .venv/bin/python bench/grading_speed.py [--n 40] [--workers 2]

Grades the same N submissions (the chapter 1 solution, every tenth with a bug) both
ways, from one run, and prints:

* the speed-up: serial nbgrader wall time / our wall time (target >= 1.8 on 2 cores);
* the per-notebook overhead of our command against a bare kernel start plus
  ``import torch``: overhead = (our wall x workers / N) - (time to run the notebook's
  cells in a warm kernel); target overhead / bare <= 1.3.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

A, NB = "01-activations", "activations.ipynb"


def bare_kernel_seconds(repeat: int = 3) -> float:
    """Mean seconds to start a python kernel and ``import torch`` in it."""
    from jupyter_client.manager import start_new_kernel

    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        km, kc = start_new_kernel(kernel_name="python3")
        kc.execute_interactive("import torch", timeout=120)
        times.append(time.perf_counter() - t)
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    return sum(times) / len(times)


def warm_execution_seconds(path: Path) -> float:
    """Seconds to run ``path``'s cells in a kernel that already imported torch and the checks."""
    import nbformat
    from jupyter_client.manager import start_new_kernel

    nb = nbformat.read(path, as_version=4)
    km, kc = start_new_kernel(kernel_name="python3")
    kc.execute_interactive("import torch, autograder.checks", timeout=120)
    t = time.perf_counter()
    for cell in nb.cells:
        if cell.cell_type == "code":
            kc.execute_interactive(cell.source, timeout=300, output_hook=lambda msg: None)
    elapsed = time.perf_counter() - t
    kc.stop_channels()
    km.shutdown_kernel(now=True)
    return elapsed


def main() -> None:
    from autograder.course import Course
    from nbgrader_e2e import student_notebook

    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        tmp = Path(tmp)
        subs = tmp / "submissions"
        for i in range(args.n):
            bugs = {"relu_solution": ("return (x > 0).to(x.dtype)", "return (x >= 0).to(x.dtype)")} if i % 10 == 9 else None
            student_notebook(A, NB, subs / f"s{i:03d}" / NB, bugs=bugs)

        course = Course(tmp / "serial", timeout=300)
        course.add_source(A)
        for folder in sorted(subs.iterdir()):
            course.submit(folder.name, A, folder / NB)
        t = time.perf_counter()
        course.autograde(A)
        serial = time.perf_counter() - t

        # prepare our output folder's course first, so both timings cover grading only
        out = tmp / "ours"
        cmd = [sys.executable, "-m", "autograder", "grade", str(subs), "--assignment", A, "--out", str(out),
               "--workers", str(args.workers)]
        from autograder.grading.cli import _prepare_course, source_digest

        _prepare_course(out, A, source_digest(sorted((REPO / "solutions" / A).glob("*.ipynb"))))
        t = time.perf_counter()
        done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        ours = time.perf_counter() - t
        if done.returncode != 0:
            sys.exit(done.stderr)
        bare = bare_kernel_seconds()
        warm = warm_execution_seconds(subs / "s000" / NB)

    per_nb = ours * args.workers / args.n
    overhead = per_nb - warm
    print(f"{args.n} submissions; serial nbgrader autograde {serial:.1f} s; "
          f"autograder grade --workers {args.workers} {ours:.1f} s")
    print(f"speed-up: {serial / ours:.2f}x (target >= 1.8x on 2 cores)")
    print(f"per notebook: ours {per_nb:.2f} s of worker time, of which running the cells {warm:.2f} s "
          f"-> overhead {overhead:.2f} s; bare kernel start + import torch {bare:.2f} s; "
          f"ratio {overhead / bare:.2f} (target <= 1.3)")


if __name__ == "__main__":
    main()
