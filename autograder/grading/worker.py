"""One grading process: grades one submission at a time in its own scratch nbgrader course.

Started by :mod:`.pool` as ``python -m autograder.grading.worker SETTINGS_JSON``; reads one
:class:`Task` per line on stdin and answers one :class:`~.answer.Answer` per line on its
real stdout (nbgrader's log goes to stderr). It is the referee's home: torch stays
loaded between submissions. Any failure becomes a status in the answer, never an
exception that stops the batch.

Scratch course (``work``)::

    work/course/    source/, gradebook.db (a copy of the prepared one), submitted/<student>/,
                    autograded/<student>/

Each kernel's connection file and the referee's socket live in ``run_dir``, a private
folder the batch makes under the system's temporary folder (a Unix socket's path must be
short) and removes at the end.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .answer import Answer, Status, worst
from .verdict import METADATA_KEY, read_back


@dataclass
class WorkerSettings:
    """What every task of one worker shares."""

    assignment: str
    work: str
    run_dir: str
    source_notebooks: list[str]
    bwrap: str | None
    #: Whether kernels run as an unprivileged user of their own (the worker claims one).
    own_user: bool
    memory_mb: int
    cell_timeout: int
    cpu_seconds: int

    def to_json(self) -> str:
        return json.dumps(asdict(self))


@dataclass
class Task:
    """One student: ``notebooks`` maps a notebook name to the file handed in."""

    student: str
    notebooks: dict[str, str]
    feedback: str

    def to_json(self) -> str:
        return json.dumps(asdict(self))


class Worker:
    """Grades tasks in the scratch course ``work/course`` (see the module docstring)."""

    def __init__(self, settings: WorkerSettings):
        import torch

        from .. import notebook as nbfacts
        from .sandbox import Limits, Policy, claim_uid, find_parent

        torch.set_num_threads(1)  # workers run side by side, one per core
        self.settings = settings
        self.course = Path(settings.work) / "course"
        self.run_dir = Path(settings.run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.run_dir, 0o700)
        claimed = claim_uid() if settings.own_user else None
        self.uid_lock = claimed[1] if claimed else None  # held for this worker's life
        cgroups, why = find_parent()
        if cgroups is None:
            sys.stderr.write(f"--- no cgroup for the kernels ({why}): their limits are per process\n")
        else:
            cgroups.sweep()  # what a worker killed at the wall-clock limit left behind
        self.policy = Policy(settings.bwrap, claimed[0] if claimed else None,
                             Limits(memory_mb=settings.memory_mb, cpu_seconds=settings.cpu_seconds), cgroups)
        self.source = {Path(p).stem: nbfacts.read(p) for p in settings.source_notebooks}
        release = self.course / "release" / settings.assignment
        self.release = {name: nbfacts.read(release / f"{name}.ipynb") for name in self.source}
        self.max_scores = {name: nbfacts.max_scores(nb) for name, nb in self.source.items()}

    def grade(self, task: Task) -> Answer:
        """Grade one student's notebooks; the answer always has every test and a status, and
        ``seconds``: the wall time this worker spent on the task."""
        started = time.perf_counter()
        try:
            answer = self._grade(task)
        except Exception as err:  # noqa: BLE001 - any failure is a status
            sys.stderr.write(f"--- {task.student}: grader error {err!r}\n")
            everything = {g: m for per in self.max_scores.values() for g, m in per.items()}
            answer = Answer.not_run(task.student, Status.CRASHED, f"grader error: {err!r}"[:500], everything)
        answer.seconds = round(time.perf_counter() - started, 3)
        return answer

    def _grade(self, task: Task) -> Answer:
        from nbgrader.apps import NbGraderAPI
        from nbgrader.coursedir import CourseDirectory

        from .. import notebook as nbfacts
        from . import handin
        from .autograde import KernelAhead, nbgrader_config
        from .feedback import write_page

        student, assignment = task.student, self.settings.assignment
        for sub in ("submitted", "autograded"):
            shutil.rmtree(self.course / sub / student, ignore_errors=True)
        dest = self.course / "submitted" / student / assignment
        dest.mkdir(parents=True)
        for name, path in task.notebooks.items():
            handin.place(Path(path), dest / f"{name}.ipynb", self.release[name])
        ahead = KernelAhead(self.policy, self.run_dir)
        config = nbgrader_config(self.course, self.settings.cell_timeout, self.policy, self.run_dir,
                                 kernel_ahead=lambda: ahead.take())  # a plain function: traitlets copies values
        api = NbGraderAPI(CourseDirectory(config=config), config=config)
        if len(self.source) == 1:  # a second notebook would start its own anyway
            ahead.start()
        try:
            result = api.autograde(assignment, student, force=True, create=True)
        finally:
            ahead.drop()
        if not result.get("success"):
            sys.stderr.write(f"--- {student}: nbgrader autograde failed\n{result.get('log', '')}\n{result.get('error', '')}\n")
        log = (result.get("log") or "") + (result.get("error") or "")
        answer = Answer(student, Status.GRADED)
        statuses = []
        feedback_dir = Path(task.feedback)
        feedback_dir.mkdir(parents=True, exist_ok=True)
        scores = self._nbgrader_scores(student)
        for name, max_scores in self.max_scores.items():
            path = self.course / "autograded" / student / assignment / f"{name}.ipynb"
            graded_nb = nbfacts.read(path) if name in task.notebooks and path.exists() else None
            status, note, tests = read_back(name, name in task.notebooks, graded_nb, max_scores, scores, log)
            statuses.append(status)
            answer.add_note(note)
            answer.tests.update(tests)
            if graded_nb is not None:
                answer.flags += graded_nb.metadata.get(METADATA_KEY, {}).get("flags", [])
            write_page(feedback_dir / f"{name}.html", student, assignment, name, graded_nb, status, note, tests,
                       self.source[name])
        answer.status = worst(statuses)
        return answer

    def _nbgrader_scores(self, student: str) -> dict[str, float]:
        """nbgrader's own per-cell scores from this worker's gradebook."""
        from nbgrader.api import Gradebook, MissingEntry

        out: dict[str, float] = {}
        try:
            with Gradebook(f"sqlite:///{self.course / 'gradebook.db'}") as gb:
                submission = gb.find_submission(self.settings.assignment, student)
                for nb in submission.notebooks:
                    for grade in nb.grades:
                        out[grade.name] = float(grade.auto_score or 0.0)
        except MissingEntry:
            pass
        return out


def main() -> int:
    settings = WorkerSettings(**json.loads(sys.argv[1]))
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything printed by nbgrader or jupyter goes to the log, not the answers
    worker = Worker(settings)
    out.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        if line.strip():
            answer = worker.grade(Task(**json.loads(line)))
            out.write(json.dumps(answer.to_json()) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
