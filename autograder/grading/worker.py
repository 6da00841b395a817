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
from typing import TYPE_CHECKING

from traitlets.config import Config

from .answer import Answer, Status, TestResult, worst
from .verdict import METADATA_KEY, NotebookRun, scored

if TYPE_CHECKING:
    from .sandbox import Policy


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


#: The kernel's own options: no history file; torch imported at start (loaded, not bound to
#: a name: a notebook that forgets `import torch` fails here as it does for the student).
KERNEL_ARGUMENTS = ["--HistoryManager.hist_file=:memory:",
                    "--IPKernelApp.exec_lines=['import torch as _warm; del _warm']"]


def nbgrader_config(course: Path, cell_timeout: int, policy: Policy, run_dir: Path, kernel_ahead=None) -> Config:
    """autograde's config: the usual sanitising, then :class:`~.execute.TwoSidedExecute`, whose
    kernels run under ``policy``, their connection files and sockets in ``run_dir``;
    ``kernel_ahead``: a function giving a kernel started ahead of time, or None."""
    from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearOutput, DeduplicateIds,
                                        LimitOutput, OverwriteCells, OverwriteKernelspec, SaveAutoGrades)

    from .execute import TwoSidedExecute

    c = Config()
    c.CourseDirectory.root = str(course)
    c.CourseDirectory.db_url = f"sqlite:///{course / 'gradebook.db'}"
    c.TwoSidedExecute.timeout = cell_timeout
    c.TwoSidedExecute.source_dir = str(course / "source")
    # after a timeout the kernel is interrupted; give it time to answer (a loaded machine is slow)
    c.TwoSidedExecute.iopub_timeout = 30
    c.TwoSidedExecute.raise_on_iopub_timeout = False
    c.TwoSidedExecute.extra_arguments = KERNEL_ARGUMENTS
    # every output is in once the last cell finished; a graceful shutdown only waits (about 1 s)
    c.TwoSidedExecute.shutdown_kernel = "immediate"
    c.TwoSidedExecute.kernel_ahead = kernel_ahead
    c.SandboxKernelManager.policy = policy  # nbclient hands its config to the managers it makes
    c.SandboxKernelManager.runtime_root = str(run_dir)
    c.Autograde.sanitize_preprocessors = [ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells,
                                          CheckCellMetadata]
    c.Autograde.autograde_preprocessors = [TwoSidedExecute, LimitOutput, SaveAutoGrades, AssignLatePenalties]
    return c


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

        from . import handin

        student, assignment = task.student, self.settings.assignment
        for sub in ("submitted", "autograded"):
            shutil.rmtree(self.course / sub / student, ignore_errors=True)
        dest = self.course / "submitted" / student / assignment
        dest.mkdir(parents=True)
        for name, path in task.notebooks.items():
            handin.place(Path(path), dest / f"{name}.ipynb", self.release[name])
        taken = self._take_kernel_ahead  # a plain function: traitlets copies the config's values
        config = nbgrader_config(self.course, self.settings.cell_timeout, self.policy, self.run_dir,
                                 kernel_ahead=lambda: taken())
        api = NbGraderAPI(CourseDirectory(config=config), config=config)
        self._start_kernel_ahead()
        try:
            result = api.autograde(assignment, student, force=True, create=True)
        finally:
            self._drop_kernel_ahead()
        if not result.get("success"):
            sys.stderr.write(f"--- {student}: nbgrader autograde failed\n{result.get('log', '')}\n{result.get('error', '')}\n")
        log = (result.get("log") or "") + (result.get("error") or "")
        answer = Answer(student, Status.GRADED)
        statuses = []
        feedback_dir = Path(task.feedback)
        feedback_dir.mkdir(parents=True, exist_ok=True)
        scores = self._nbgrader_scores(student)
        for name, max_scores in self.max_scores.items():
            status, note, tests, graded_nb = self._notebook(student, name, task, max_scores, scores, log)
            statuses.append(status)
            answer.add_note(note)
            answer.tests.update(tests)
            if graded_nb is not None:
                answer.flags += graded_nb.metadata.get("autograder", {}).get("flags", [])
            self._feedback(feedback_dir, student, name, graded_nb, status, note, tests)
        answer.status = worst(statuses)
        return answer

    def _start_kernel_ahead(self) -> None:
        """Start the first notebook's kernel now, so that it boots (and imports torch) while
        nbgrader restores the locked cells and hidden tests. Only for one-notebook assignments;
        the executor takes it through its ``kernel_ahead`` (see :func:`nbgrader_config`)."""
        from jupyter_core.utils import run_sync

        from .sandbox import SandboxKernelManager

        self._ahead = None
        if len(self.source) != 1:
            return
        km = SandboxKernelManager(kernel_name="python3", policy=self.policy, runtime_root=str(self.run_dir))
        try:
            run_sync(km.start_kernel)(extra_arguments=list(KERNEL_ARGUMENTS))
        except Exception as err:  # noqa: BLE001 - the executor starts one itself then
            sys.stderr.write(f"--- a kernel could not be started ahead: {err!r}\n")
            return
        self._ahead = km

    def _take_kernel_ahead(self):
        """The kernel started ahead, once (None after: a second notebook starts its own)."""
        km, self._ahead = self._ahead, None
        return km

    def _drop_kernel_ahead(self) -> None:
        """Stop a kernel started ahead that no notebook took (nbgrader stopped before running)."""
        from jupyter_core.utils import run_sync

        km = self._take_kernel_ahead()
        if km is not None:
            run_sync(km.shutdown_kernel)(now=True)

    def _notebook(self, student, name, task, max_scores, scores, log):
        """``(status, note, {grade_id: TestResult}, autograded notebook or None)`` for one notebook."""
        from .. import notebook as nbfacts

        def every(message: str) -> dict[str, TestResult]:
            return {g: TestResult.failed(g, message, max_score=m) for g, m in max_scores.items()}

        if name not in task.notebooks:
            return Status.MISSING_NOTEBOOK, f"no {name}.ipynb", every(f"{name}.ipynb was not handed in"), None
        path = self.course / "autograded" / student / self.settings.assignment / f"{name}.ipynb"
        graded = nbfacts.read(path) if path.exists() else None
        record = graded.metadata.get(METADATA_KEY) if graded is not None else None
        if record is None:  # nbgrader stopped outside the executor, which records every run it finishes
            note = f"the grader could not run the notebook to its end: {_last_error(log)}"
            return Status.CRASHED, note, every(note), graded
        run = NotebookRun.from_json(record)
        note = run.note
        if run.flags:
            note = "; ".join(filter(None, [note, "flagged: " + " | ".join(run.flags[:5])]))
        return run.status, note, scored(run, max_scores, scores), graded

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

    def _feedback(self, folder: Path, student: str, name: str, graded_nb, status: Status, note: str,
                  tests: dict[str, TestResult]) -> None:
        from .feedback import LeakError, render

        try:
            page = render(student, self.settings.assignment, name, graded_nb, status, note, tests, self.source[name])
        except LeakError as err:  # never silently: the page and the log say the notebook is left out
            sys.stderr.write(f"--- {student}: {err}; the feedback page leaves the notebook out\n")
            page = render(student, self.settings.assignment, name, None, status, note, tests, self.source[name],
                          why_hidden=f"The notebook is left out of this page: {err}. Ask your instructor.")
        (folder / f"{name}.html").write_text(page, encoding="utf-8")


def _last_error(log: str) -> str:
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    for line in reversed(lines):
        if "Error" in line or "error" in line or "died" in line:
            return line[:300]
    return lines[-1][:300] if lines else "unknown error"


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
