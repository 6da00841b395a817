"""The sandbox's bounds hold for its processes together, through ``python -m autograder grade``.

Chapter 1 notebooks (``nbgrader_e2e``) whose extra cells start processes: children that
together pass ``--memory-mb`` (each under the per-process limit), and orphans (double-fork
daemons, ``setsid -f``) that the sandbox's init or the machine's adopts. A notebook
learns whether an orphan is still there by looking for a sleeper whose argument is this
run's marker, and earns test_step's point only if the grader's promise held.
"""
from __future__ import annotations

import csv
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import REPO_ROOT
from autograder.grading.sandbox import bwrap_path, find_parent
from nbgrader_e2e import student_notebook
from test_grade_corpus import A, FULL, NB, STEP, add_cell, edit_cells, put_before

STEP_BODY = "return (x > 0).to(x.dtype)"
CHILDREN = 16  # the watchdog's limit (Limits.children)


def marked(marker: str) -> list[int]:
    """Live processes whose command line holds ``marker`` (the same test the notebooks make)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes() and \
                    Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                found.append(int(pid))
        except (OSError, IndexError):
            continue
    return found


def helpers(marker: str) -> str:
    """Notebook code: ``marked()`` as above; ``orphans(n)`` leaves ``n`` sleepers of each kind,
    ``setsid -f`` and a double-fork daemon in a session of its own, and returns how many new
    ones it saw (waiting up to 5 s for them; not at all with ``wait=False``)."""
    return (f"import os, subprocess, time\n"
            f"MARKER = {marker!r}\n"
            f"def marked():\n"
            f"    found = []\n"
            f"    for pid in filter(str.isdigit, os.listdir('/proc')):\n"
            f"        try:\n"
            f"            if MARKER.encode() in open(f'/proc/{{pid}}/cmdline', 'rb').read() and \\\n"
            f"                    open(f'/proc/{{pid}}/stat').read().rsplit(')', 1)[1].split()[0] != 'Z':\n"
            f"                found.append(pid)\n"
            f"        except (OSError, IndexError):\n"
            f"            pass\n"
            f"    return found\n"
            f"def orphans(n, wait=True):\n"
            f"    before = len(marked())\n"
            f"    for _ in range(n):\n"
            f"        subprocess.run(['setsid', '-f', 'sleep', MARKER])\n"
            f"        if os.fork() == 0:\n"
            f"            os.setsid()\n"
            f"            if os.fork() == 0:\n"
            f"                os.execvp('sleep', ['sleep', MARKER])\n"
            f"            os._exit(0)\n"
            f"        os.wait()\n"
            f"    end = time.time() + (5 if wait else 0)\n"
            f"    while len(marked()) < before + 2 * n and time.time() < end:\n"
            f"        time.sleep(0.05)\n"
            f"    return len(marked()) - before\n")


def step_loses_if(path: Path, condition: str) -> None:
    """test_step fails (its answer is off by 7) when ``condition`` held as the step cell ran."""
    edit_cells(path, put_before(STEP, "step_solution", f"WRONG = {condition}"))
    edit_cells(path, {"step_solution": (STEP_BODY, STEP_BODY + " + (7 if WRONG else 0)")})


def grade(subs: Path, out: Path, *extra: str) -> dict[str, dict]:
    cmd = [sys.executable, "-m", "autograder", "grade", str(subs), "--assignment", A, "--out", str(out),
           "--cell-timeout", "20", "--notebook-timeout", "300", "--no-similarity", *extra]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    return {r["student"]: r for r in csv.DictReader((out / "grades.csv").open())}


def needs_cgroups() -> None:
    parent, why = find_parent()
    if parent is None:
        pytest.skip(f"no cgroup for the kernels on this machine ({why}): run as root where cgroups are mounted")


@pytest.mark.slow
def test_the_sandbox_bounds_its_processes_together(tmp_path):
    """Under ``--memory-mb 2048``: four children of 600 MB (each far under the per-process
    limit) get the row ``memory limit``, and the batch goes on; orphans a cell leaves are gone
    before the next cell runs; 40 orphans at once are stopped by the watchdog (16 at most)."""
    if not bwrap_path():
        pytest.skip("bubblewrap is needed (scripts/system-packages.sh installs it)")
    needs_cgroups()
    marker = f"{600 + secrets.randbelow(10 ** 6) / 10 ** 7:.7f}"
    subs = tmp_path / "submissions"
    student_notebook(A, NB, subs / "honest" / NB)
    hogs = ("import subprocess, sys\n"
            "hogs = [subprocess.Popen([sys.executable, '-c', \"import time; x = b'x' * (600 << 20); time.sleep(5)\"])\n"
            "        for _ in range(4)]\n"
            "for hog in hogs:\n"
            "    hog.wait()")
    add_cell(student_notebook(A, NB, subs / "memory_together" / NB), hogs)
    path = student_notebook(A, NB, subs / "orphans_gone" / NB)
    add_cell(path, helpers(marker) + "SPAWNED = orphans(3)")
    step_loses_if(path, "SPAWNED != 6 or bool(marked())")
    path = student_notebook(A, NB, subs / "orphans_capped" / NB)
    add_cell(path, helpers(marker) + "orphans(20, wait=False)\ntime.sleep(1.5)\nLEFT = len(marked())")
    step_loses_if(path, f"LEFT > {CHILDREN}")

    rows = grade(subs, tmp_path / "out", "--workers", "2", "--memory-mb", "2048")
    assert set(rows) == {"honest", "memory_together", "orphans_gone", "orphans_capped"}
    assert (rows["honest"]["status"], float(rows["honest"]["total"])) == ("graded", FULL), rows["honest"]
    assert rows["memory_together"]["status"] == "memory limit", rows["memory_together"]
    assert "together reached the memory limit (2048 MiB)" in rows["memory_together"]["note"]
    for student in ("orphans_gone", "orphans_capped"):
        row = rows[student]  # flagged: the scan quotes the subprocess and fork lines
        assert row["status"] in ("graded", "flagged") and float(row["total"]) == FULL, row
    assert "left 6 process(es) running; they were stopped" in rows["orphans_gone"]["note"]
    assert marked(marker) == []


@pytest.mark.slow
def test_no_orphan_outlives_its_notebook_without_a_sandbox(tmp_path):
    """Without bubblewrap (no pid namespace to die with), the kernel's cgroup still finds the
    orphans: the second of two students graded one after the other by one worker sees none
    of the first's sleepers."""
    needs_cgroups()
    marker = f"{600 + secrets.randbelow(10 ** 6) / 10 ** 7:.7f}"
    subs = tmp_path / "submissions"
    for student in ("first", "second"):
        path = student_notebook(A, NB, subs / student / NB)
        add_cell(path, helpers(marker) + "BEFORE = marked()\nSPAWNED = orphans(2)")
        step_loses_if(path, "bool(BEFORE) or SPAWNED != 4")
    rows = grade(subs, tmp_path / "out", "--workers", "1", "--no-sandbox")
    for student in ("first", "second"):
        assert float(rows[student]["total"]) == FULL, rows[student]
    assert marked(marker) == []
