"""What running one notebook gave, and the status it earns.

:class:`NotebookRun` is the executor's record of one notebook (kept in the graded
notebook's metadata for the worker): one :class:`~autograder.referee.result.TestResult`
per test cell, the flags of the static check, a note, the status. :func:`decide` gives the
status from typed facts: the sandbox's counters, why the run stopped (:class:`Halt`),
whether a cell or a test ran out of time, the kernel's error outputs. :func:`scored` turns
the record and nbgrader's own per-cell scores into the row's results.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum

from ..referee.result import TestResult
from .answer import Status

METADATA_KEY = "autograder"
#: Exception names a kernel raises when an allocation fails below the sandbox's limit
#: (torch's allocator reports it as a RuntimeError, so its message is the only sign).
MEMORY_ERRORS = ("MemoryError", "OutOfMemoryError")
MEMORY_MESSAGES = ("can't allocate memory", "DefaultCPUAllocator", "std::bad_alloc", "out of memory")


class HaltReason(Enum):
    """Why the later cells of a notebook were not run."""

    #: The kernel died (os._exit, a crash, a resource limit).
    KERNEL_DIED = "kernel died"
    #: The kernel did not come back after a test ran out of time and was interrupted.
    KERNEL_STUCK = "kernel stuck"


@dataclass(frozen=True)
class Halt:
    reason: HaltReason
    text: str


@dataclass
class NotebookRun:
    """What running one notebook gave: per-test results, the status, a note, the flags."""

    tests: dict[str, TestResult] = field(default_factory=dict)
    status: Status = Status.GRADED
    note: str = ""
    flags: list[str] = field(default_factory=list)

    def add_note(self, text: str) -> None:
        self.note = "; ".join(filter(None, [self.note, text]))

    def to_json(self) -> dict:
        data = asdict(self)
        data["status"] = self.status.value
        return data

    @classmethod
    def from_json(cls, data: dict) -> "NotebookRun":
        return cls({k: TestResult(**v) for k, v in data.get("tests", {}).items()},
                   Status(data.get("status", Status.GRADED.value)), data.get("note", ""), list(data.get("flags", [])))


@dataclass(frozen=True)
class Facts:
    """What the executor saw: the sandbox's out-of-memory kills (and its limit), why it
    stopped, whether anything ran out of time, the ``(ename, evalue)`` of every error output."""

    oom_kills: int = 0
    memory_mb: int = 0
    halt: Halt | None = None
    timed_out: bool = False
    errors: tuple[tuple[str, str], ...] = ()


def _out_of_memory(errors) -> bool:
    return any(name in MEMORY_ERRORS or any(mark in value for mark in MEMORY_MESSAGES) for name, value in errors)


def decide(run: NotebookRun, facts: Facts) -> None:
    """Set ``run.status`` and put why in its note, from ``facts`` (see :class:`Facts`)."""
    halt = facts.halt
    if facts.oom_kills:
        status = Status.MEMORY_LIMIT
        why = (f"the notebook's processes together reached the memory limit ({facts.memory_mb} MiB): "
               f"{facts.oom_kills} process(es) were stopped" + (f"; {halt.text}" if halt else ""))
    elif halt is not None and halt.reason is HaltReason.KERNEL_DIED:
        status, why = Status.CRASHED, halt.text
    elif facts.timed_out or (halt is not None and halt.reason is HaltReason.KERNEL_STUCK) or \
            any(name == "CellTimeoutError" for name, _ in facts.errors):
        status = Status.TIMEOUT
        why = halt.text if halt else "a cell ran past its time limit (it was interrupted; later cells still ran)"
    elif _out_of_memory(facts.errors):
        status, why = Status.MEMORY_LIMIT, "a cell ran out of memory (the per-kernel memory limit)"
    elif run.flags:
        status, why = Status.FLAGGED, f"{len(run.flags)} line(s) of the answer cells the static check cannot see through, for review"
    else:
        status, why = Status.GRADED, ""
    run.status = status
    run.note = "; ".join(filter(None, [why, run.note]))


def scored(run: NotebookRun, max_scores: dict[str, float], nbgrader_scores: dict[str, float]) -> dict[str, TestResult]:
    """One result per test cell of ``max_scores``: full points when it passed in the referee and
    nbgrader scored the cell in full too, else 0 with the reason."""
    out = {}
    for gid, max_score in max_scores.items():
        test = run.tests.get(gid) or TestResult.failed(gid, "this test did not run")
        out[gid] = test.scored(max_score, nbgrader_scores.get(gid, 0.0) >= max_score)
    return out


def _last_error(log: str) -> str:
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    for line in reversed(lines):
        if "Error" in line or "error" in line or "died" in line:
            return line[:300]
    return lines[-1][:300] if lines else "unknown error"


def read_back(name: str, handed_in: bool, graded_nb, max_scores: dict[str, float], nbgrader_scores: dict[str, float],
              log: str) -> tuple[Status, str, dict[str, TestResult]]:
    """``(status, note, {grade_id: TestResult})`` of one notebook after ``autograde``, from the
    run the executor recorded in ``graded_nb`` (the autograded notebook, or None when there
    is none) and nbgrader's own scores; ``log``: autograde's log, for a run that never
    reached the executor's end."""
    def every(message: str) -> dict[str, TestResult]:
        return {g: TestResult.failed(g, message, max_score=m) for g, m in max_scores.items()}

    if not handed_in:
        return Status.MISSING_NOTEBOOK, f"no {name}.ipynb", every(f"{name}.ipynb was not handed in")
    record = graded_nb.metadata.get(METADATA_KEY) if graded_nb is not None else None
    if record is None:  # nbgrader stopped outside the executor, which records every run it finishes
        note = f"the grader could not run the notebook to its end: {_last_error(log)}"
        return Status.CRASHED, note, every(note)
    run = NotebookRun.from_json(record)
    note = run.note
    if run.flags:
        note = "; ".join(filter(None, [note, "flagged: " + " | ".join(run.flags[:5])]))
    return run.status, note, scored(run, max_scores, nbgrader_scores)
