"""``grade --dask``: a Dask cluster started here (``dask scheduler``, two ``dask worker``
processes on 127.0.0.1) grades as the local workers do, survives workers killed
mid-notebook, and refuses a worker of another version; and what crosses the network is
read back only as the records it should be.

One mixed chapter 1 batch (correct, wrong, crashing, timing out, blank, unreadable) and
its local run are shared by the cluster tests; the cluster too (a killed worker's nanny
starts a new one).
"""
from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from autograder import REPO_ROOT
from autograder.grading.answer import Answer, Status
from autograder.grading.cluster_wire import CourseBundle, Reply, Request, Version, WireError
from autograder.grading.cluster_worker import unfinished_attempts
from autograder.grading.sandbox import bwrap_path
from dask_cluster import LocalDask
from nbgrader_e2e import RELU_AT_ZERO, student_notebook

A, NB = "01-activations", "activations.ipynb"
CELL_TIMEOUT = "5"
LOOP = {"step_solution": ("def step(x):", "while True:\n    pass\n\n\ndef step(x):")}
EXIT = {"sigmoid_solution": ("def sigmoid(x):", "import os\nos._exit(1)\n\n\ndef sigmoid(x):")}


def grade(subs: Path, out: Path, *extra: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "autograder", "grade", str(subs), "--assignment", A, "--out", str(out),
                           "--cell-timeout", CELL_TIMEOUT, *extra], capture_output=True, text=True, cwd=REPO_ROOT)
    assert not check or done.returncode == 0, done.stdout + done.stderr
    return done


def rows(out: Path) -> dict[str, dict[str, str]]:
    """``grades.csv`` by student: the status and every score (the note left out: a failed
    check's message holds inputs drawn at random for each run)."""
    return {r["student"]: {k: v for k, v in r.items() if k not in ("student", "note")}
            for r in csv.DictReader((out / "grades.csv").open())}


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> Path:
    if bwrap_path() is None:
        pytest.skip("bubblewrap is needed: a Dask worker without it is refused "
                    "(scripts/system-packages.sh installs it)")
    subs = tmp_path_factory.mktemp("dask-batch") / "submissions"
    student_notebook(A, NB, subs / "correct" / NB)
    student_notebook(A, NB, subs / "wrong" / NB, bugs=RELU_AT_ZERO)
    student_notebook(A, NB, subs / "crashing" / NB, bugs=EXIT)
    student_notebook(A, NB, subs / "looping" / NB, bugs=LOOP)
    student_notebook(A, NB, subs / "blank" / NB, blank=True)
    (subs / "broken").mkdir()
    (subs / "broken" / NB).write_text('{"cells": [')
    return subs


@pytest.fixture(scope="module")
def local(batch, tmp_path_factory) -> Path:
    """The batch graded by local workers: the reference."""
    out = tmp_path_factory.mktemp("dask-local") / "out"
    grade(batch, out, "--workers", "2")
    return out


@pytest.fixture(scope="module")
def cluster(batch, tmp_path_factory):
    with LocalDask(tmp_path_factory.mktemp("dask-cluster"), workers=2) as running:
        yield running


def outputs(out: Path) -> set[str]:
    return {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and p.relative_to(out).parts[0] != "work"}


@pytest.mark.slow
def test_a_dask_cluster_grades_a_batch_as_local_workers_do_and_a_rerun_regrades_what_changed(batch, local, cluster,
                                                                                           tmp_path):
    out = tmp_path / "out"
    first = grade(batch, out, "--dask", cluster.address)
    assert "Dask cluster at" in first.stderr and "2 worker(s), 2 grading process(es)" in first.stderr
    assert rows(out) == rows(local)
    assert {r["status"] for r in rows(out).values()} == {"graded", "crashed", "timeout", "unreadable"}
    assert outputs(out) == outputs(local)  # feedback pages, summary, similarity, gradebook, export, results
    for name in ("similarity.csv", "nbgrader-export.csv"):
        assert (out / name).read_bytes() == (local / name).read_bytes(), name
    assert "Your notebook, as graded" in (out / "feedback" / "wrong" / "activations.html").read_text()

    changed = tmp_path / "changed"
    shutil.copytree(batch, changed)
    shutil.copyfile(batch / "correct" / NB, changed / "blank" / NB)
    again = grade(changed, out, "--dask", cluster.address)
    assert " 1 to grade" in again.stderr
    assert rows(out)["blank"] == rows(out)["correct"]
    others = lambda table: {s: r for s, r in table.items() if s != "blank"}  # noqa: E731
    assert others(rows(out)) == others(rows(local))


class Killer(threading.Thread):
    """Kills the Dask worker that starts grading a student, as many times as asked:
    ``{student: times}``. Reads the attempts from the cluster's event log."""

    def __init__(self, cluster: LocalDask, victims: dict[str, int]):
        super().__init__(daemon=True)
        self.cluster, self.victims = cluster, dict(victims)
        self.known = set(self.topics())
        self.killed: list[tuple[str, str]] = []
        self.stop = threading.Event()

    def topics(self) -> dict[str, tuple]:
        return {t: e for t, e in self.cluster.client.get_events().items() if t.startswith("autograder-")}

    def run(self) -> None:
        seen = set()
        while not self.stop.is_set() and any(self.victims.values()):
            for topic, events in self.topics().items():
                student = topic.rpartition("/")[2]
                if topic in self.known or self.victims.get(student, 0) == 0:
                    continue
                for _, msg in events:
                    if msg["kind"] == "start" and msg["attempt"] not in seen:
                        seen.add(msg["attempt"])
                        self.cluster.kill_worker(msg["worker"])
                        self.killed.append((student, msg["worker"]))
                        self.victims[student] -= 1
            time.sleep(0.2)

    def attempts(self) -> dict[str, list[str]]:
        """``{student: [kind of each event]}`` of this run (``start``, ``done``)."""
        return {t.rpartition("/")[2]: [m["kind"] for _, m in e] for t, e in self.topics().items()
                if "/" in t and t not in self.known}


@pytest.mark.slow
def test_a_worker_killed_mid_notebook_loses_no_row_and_one_that_kills_two_gets_a_crashed_row(batch, local, cluster,
                                                                                             tmp_path):
    subs = tmp_path / "submissions"
    shutil.copytree(batch, subs)
    student_notebook(A, NB, subs / "killed_once" / NB, bugs=LOOP)  # a slow notebook: time to kill its worker
    student_notebook(A, NB, subs / "kills_two" / NB, bugs=LOOP)
    killer = Killer(cluster, {"killed_once": 1, "kills_two": 2})
    killer.start()
    try:
        done = grade(subs, tmp_path / "out", "--dask", cluster.address)
    finally:
        killer.stop.set()
        killer.join()
    assert sorted(s for s, _ in killer.killed) == ["killed_once", "kills_two", "kills_two"]
    lost = [line for line in done.stderr.splitlines() if "lost Dask worker" in line]
    assert len(lost) == 3 and all(worker in " ".join(lost) for _, worker in killer.killed), done.stderr

    got = rows(tmp_path / "out")
    reference = rows(local)
    assert set(got) == set(reference) | {"killed_once", "kills_two"}
    assert {s: got[s] for s in reference} == reference
    assert got["killed_once"] == reference["looping"]
    assert got["kills_two"]["status"] == "crashed" and got["kills_two"]["total"] == "0"
    notes = {r["student"]: r["note"] for r in csv.DictReader((tmp_path / "out" / "grades.csv").open())}
    assert "stopped 2 Dask workers" in notes["kills_two"]
    # each notebook graded to its end once: one finished attempt per student (none for kills_two)
    attempts = killer.attempts()
    assert {s: a.count("done") for s, a in attempts.items()} == {**{s: 1 for s in got if s != "broken"}, "kills_two": 0}
    assert attempts["killed_once"].count("start") == 2 and attempts["kills_two"].count("start") == 2


@pytest.mark.slow
def test_losing_the_scheduler_stops_the_batch_and_a_rerun_grades_only_the_rest(batch, local, cluster, tmp_path):
    """Last of the tests on the shared cluster: it kills the scheduler."""
    out = tmp_path / "out"
    command = subprocess.Popen([sys.executable, "-m", "autograder", "grade", str(batch), "--assignment", A, "--out",
                                str(out), "--cell-timeout", CELL_TIMEOUT, "--dask", cluster.address],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT)
    graded = lambda: {p.stem for p in (out / "results").glob("*.json")} - {"broken"}  # noqa: E731
    deadline = time.monotonic() + 600
    while not graded() and command.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    cluster.kill_scheduler()
    stdout, stderr = command.communicate(timeout=300)
    assert command.returncode == 3, stdout + stderr
    assert "lost the Dask scheduler" in stderr and "rerun the same command" in stderr
    assert not (out / "grades.csv").exists()
    kept = graded()
    assert 1 <= len(kept) < 5, kept

    again = grade(batch, out, "--workers", "2")  # the cache is shared: the rest may be graded locally
    assert f" {5 - len(kept)} to grade" in again.stderr
    assert rows(out) == rows(local)


@pytest.mark.slow
def test_a_worker_of_another_version_is_refused_before_grading(batch, tmp_path):
    other = tmp_path / "other"  # another checkout of the grader: one file differs
    for package in ("autograder", "autograder_kernel"):
        shutil.copytree(REPO_ROOT / package, other / package, ignore=shutil.ignore_patterns("__pycache__"))
    with (other / "autograder" / "grading" / "merge.py").open("a") as f:
        f.write("# another version\n")
    with LocalDask(tmp_path / "cluster", workers=0) as cluster:
        cluster.add_worker("other", env={**os.environ, "PYTHONPATH": str(other)})
        cluster.wait_for(1)
        done = grade(batch, tmp_path / "out", "--dask", cluster.address, check=False)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "refused: another version: grading package" in done.stderr
    assert "no Dask worker at" in done.stderr and "nothing was graded" in done.stderr
    assert not (tmp_path / "out" / "grades.csv").exists() and not (tmp_path / "out" / "feedback").exists()
    assert sorted(p.stem for p in (tmp_path / "out" / "results").glob("*.json")) == ["broken"]  # never run


# --------------------------------------------------------------------------- the records on the wire
def test_a_reply_is_read_back_only_as_the_answer_and_pages_of_the_student_asked_for():
    answer = Answer.not_run("ann", Status.CRASHED, "the kernel died", {"test_step": 1.0})
    reply = Reply(answer, {"activations": "<html>page</html>"}).to_bytes()
    assert Reply.from_bytes(reply, "ann", {"activations"}) == Reply(answer, {"activations": "<html>page</html>"})
    import pickle

    for payload, student, names in [(reply, "bob", {"activations"}),  # another student's reply
                                    (reply, "ann", {"softmax"}),  # a page the assignment has not
                                    (pickle.dumps(answer), "ann", {"activations"}),  # never unpickled
                                    (b'{"answer": {"student": "ann"}, "pages": {}}', "ann", {"activations"})]:
        with pytest.raises(WireError):
            Reply.from_bytes(payload, student, names)


def test_a_request_carries_the_notebooks_bytes_and_refuses_names_that_leave_its_folder(tmp_path):
    data = b'{"cells": []}'
    request = Request.from_bytes(Request("ann", {"activations": data}).to_bytes())
    task = request.write(tmp_path / "t")
    assert Path(task.notebooks["activations"]).read_bytes() == data and task.student == "ann"
    for student, name in [("../ann", "activations"), ("ann", "../../etc/x"), (".hidden", "activations")]:
        with pytest.raises(WireError):
            Request.from_bytes(Request(student, {name: data}).to_bytes())


def test_the_course_archive_unpacks_what_was_packed_and_nothing_outside(tmp_path):
    import zipfile

    course = tmp_path / "course"
    for rel in ("source/a/n.ipynb", "release/a/n.ipynb", "gradebook.db", "submitted/s/a/n.ipynb"):
        (course / rel).parent.mkdir(parents=True, exist_ok=True)
        (course / rel).write_text(rel)
    out = CourseBundle.pack(course).unpack(tmp_path / "out")
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == \
        ["gradebook.db", "release/a/n.ipynb", "source/a/n.ipynb"]  # never the student data
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("source/../../escaped", "x")
    with pytest.raises(WireError):
        CourseBundle(evil.read_bytes()).unpack(tmp_path / "evil")
    assert not (tmp_path / "escaped").exists()


def test_the_workers_that_died_grading_a_student_are_its_attempts_that_never_finished():
    events = [(1, {"kind": "start", "attempt": "a", "worker": "tcp://w1"}),
              (2, {"kind": "start", "attempt": "b", "worker": "tcp://w2"}),
              (3, {"kind": "done", "attempt": "b", "worker": "tcp://w2"}),  # finished: its result was lost later
              (4, {"kind": "start", "attempt": "c", "worker": "tcp://w3"})]
    assert unfinished_attempts(events[:1]) == ["tcp://w1"]
    assert unfinished_attempts(events) == ["tcp://w1", "tcp://w3"]


def test_a_worker_version_says_what_differs_from_the_client():
    here = Version.here()
    assert here.differences(here) == []
    other = Version("0" * 64, "2.0.0", here.nbgrader, here.python)
    assert here.differences(other) == [f"grading package {here.code[:12]} (the client has 000000000000)",
                                       f"torch {here.torch} (the client has 2.0.0)"]
