"""Grading on a Dask cluster against grading locally: the same notebooks, two workers each.

    .venv/bin/python bench/dask_grading.py [--n 100] [--repeat 1]
    .venv/bin/python bench/dask_grading.py --idle

Generates N chapter 1 submissions (the solution, every tenth with a bug) and grades them
twice with ``python -m autograder grade``: with ``--workers 2``, and with ``--dask`` on a
Dask cluster started here as the README starts one by hand (``dask scheduler`` and two
``dask worker --nthreads 1`` processes on 127.0.0.1, started before the clock runs). Both
timings are whole commands, each course prepared first; the Dask one includes starting the
grading processes on the workers, as the local one includes starting its own. It prints
each run's wall time and the Dask run's overhead per notebook: (Dask - local) / N, and as
a share of local's time per notebook (target: within 10 %). With ``--repeat R`` both
runs are made R times, local first, then Dask first, and so on, and the medians are
compared.

On a machine others load too, both wall times move with that load; so it also prints the
time each run spends outside grading, per notebook: wall x 2 workers, minus the seconds
the grading processes report for each notebook (``OUT/results/<student>.json``), over N.
That is what the cluster adds (starting the workers, shipping, scheduling, idle tails),
and it depends much less on how fast the notebooks themselves run. And notebooks per
minute per core (two workers on two cores), the figure the README sizes a cluster with.

First, before any run, it measures the CPU Dask's own processes (the scheduler, the
workers and their nannies) use in 10 s of idling, with the settings in force (the course's
venv carries ``scripts/dask-grading.yaml``). ``--idle`` only measures that, with those
settings and with Dask's defaults.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))


def grading_seconds(out: Path) -> list[float]:
    """The grading processes' own seconds for each notebook of a run (``out/results``)."""
    return [json.loads(p.read_text())["answer"]["seconds"] for p in (out / "results").glob("*.json")]


def outside_grading(out: Path, wall: float, workers: int) -> float:
    """Seconds per notebook that ``workers`` workers spent, in ``wall`` seconds, outside grading notebooks."""
    graded = grading_seconds(out)
    return (wall * workers - sum(graded)) / len(graded)


def idle_cpu(cluster, seconds: float = 10) -> float:
    """Percent of one core that the cluster's Dask processes use, idle, over ``seconds``."""
    import psutil

    pids = [p.pid for p in cluster.processes] + list(cluster.client.run(os.getpid).values())
    procs = [psutil.Process(pid) for pid in pids]
    busy = lambda: sum(sum(p.cpu_times()[:2]) for p in procs)  # noqa: E731
    before = busy()
    time.sleep(seconds)
    return 100 * (busy() - before) / seconds


#: Dask's defaults for what ``scripts/dask-grading.yaml`` changes (environment variables win over files).
DASK_DEFAULTS = {"DASK_DISTRIBUTED__ADMIN__TICK__INTERVAL": "20ms",
                 "DASK_DISTRIBUTED__ADMIN__SYSTEM_MONITOR__INTERVAL": "500ms",
                 "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "True",
                 "DASK_DISTRIBUTED__WORKER__MEMORY__MONITOR_INTERVAL": "100ms"}


def idle_only() -> None:
    from dask_cluster import LocalDask

    with tempfile.TemporaryDirectory(prefix="bench-dask-idle-") as tmp:
        for label, env in [("the course's settings", None), ("Dask's defaults", DASK_DEFAULTS)]:
            with LocalDask(Path(tmp) / label.split()[1], workers=2, env=env) as cluster:
                time.sleep(5)  # past start-up
                print(f"idle scheduler, 2 workers and their nannies, {label}: {idle_cpu(cluster, 30):.1f} % of a core")


def main() -> None:
    from dask_cluster import LocalDask
    from grading_speed import grade_ours
    from nbgrader_e2e import solution_class

    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--idle", action="store_true", help="only the idle CPU of Dask's processes")
    args = parser.parse_args()
    if args.idle:
        return idle_only()
    local, dask, outside = [], [], {"local": [], "dask": []}
    with tempfile.TemporaryDirectory(prefix="bench-dask-") as tmp:
        tmp = Path(tmp)
        subs = tmp / "submissions"
        solution_class(subs, args.n)
        with LocalDask(tmp / "cluster", workers=2) as cluster:
            print(f"Dask's own processes (scheduler, 2 workers, their nannies), idle: {idle_cpu(cluster):.1f} % "
                  "of a core", flush=True)
            for i in range(args.repeat):  # the order alternates, so that a drifting load favours neither
                runs = [("local", local, ()), ("dask", dask, ("--dask", cluster.address))]
                for kind, times, extra in runs[::-1] if i % 2 else runs:
                    times.append(grade_ours(subs, tmp / f"{kind}{i}", 2, *extra))
                    outside[kind].append(outside_grading(tmp / f"{kind}{i}", times[-1], 2))
                inside = {kind: statistics.mean(grading_seconds(tmp / f"{kind}{i}")) for kind in outside}
                print(f"run {i + 1}: local {local[-1]:.1f} s (per notebook: grading {inside['local']:.2f} s, outside "
                      f"{outside['local'][-1]:.2f} s), dask {dask[-1]:.1f} s (grading {inside['dask']:.2f} s, "
                      f"outside {outside['dask'][-1]:.2f} s)", flush=True)
    report(args.n, local, dask, outside["local"], outside["dask"])


def report(n: int, local: list[float], dask: list[float], outside_local: list[float],
           outside_dask: list[float]) -> None:
    """Print the medians: wall times, the overhead per notebook, the time outside grading, the capacity."""
    t_local, t_dask = statistics.median(local), statistics.median(dask)
    o_local, o_dask = statistics.median(outside_local), statistics.median(outside_dask)
    per_local, per_dask = t_local / n, t_dask / n
    print(f"{n} notebooks, 2 workers: local {t_local:.1f} s ({per_local:.2f} s per notebook), "
          f"Dask cluster of 2 single-threaded workers {t_dask:.1f} s ({per_dask:.2f} s per notebook)")
    print(f"Dask overhead per notebook: {per_dask - per_local:+.3f} s, {100 * (per_dask / per_local - 1):+.1f} % "
          f"of local (target: within 10 %)")
    print(f"outside grading, per notebook: local {o_local:.3f} s, Dask {o_dask:.3f} s: the cluster adds "
          f"{o_dask - o_local:+.3f} s per notebook, {100 * (o_dask - o_local) / per_local:+.1f} % of local's time "
          f"per notebook")
    print(f"capacity: {60 / per_dask / 2:.1f} notebooks per minute per core on the Dask cluster "
          f"({60 / per_local / 2:.1f} locally)")


if __name__ == "__main__":
    main()
