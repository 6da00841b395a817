"""What grading one student produces: a status, one result per test cell, notes.

These types cross every stage boundary (worker -> pool -> batch -> reports, and the
result cache on disk), so they live here, once. A status string appears only in
:class:`Status`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum

from ..referee.result import TestResult


class Status(str, Enum):
    """Why a row has the score it has. ``GRADED`` and ``FLAGGED`` rows are scored normally."""

    GRADED = "graded"
    #: Graded, but the static check found code it cannot see through in the answer cells: points are kept
    #: as computed, the lines are quoted for the instructor to review.
    FLAGGED = "flagged"
    #: A cell, a call or the whole notebook ran past its time limit.
    TIMEOUT = "timeout"
    #: The notebook's processes, together (its cgroup's out-of-memory killer) or one alone, ran out of memory.
    MEMORY_LIMIT = "memory limit"
    #: The kernel died (os._exit, a segfault, a resource limit) or the grader could not run it.
    CRASHED = "crashed"
    UNREADABLE = "unreadable"
    WRONG_ASSIGNMENT = "wrong assignment"
    METADATA_STRIPPED = "metadata stripped"
    MISSING_NOTEBOOK = "missing notebook"

    @property
    def ran(self) -> bool:
        """Whether the notebook was run (its scores mean something about the code)."""
        return self in (Status.GRADED, Status.FLAGGED, Status.TIMEOUT, Status.MEMORY_LIMIT, Status.CRASHED)

    @classmethod
    def order(cls) -> list["Status"]:
        """Display order: scored rows first, then problems."""
        return list(cls)


#: When several notebooks of one student end differently, the row shows the worst:
#: later in this list wins.
_SEVERITY = [Status.GRADED, Status.FLAGGED, Status.TIMEOUT, Status.MEMORY_LIMIT, Status.CRASHED,
             Status.MISSING_NOTEBOOK, Status.METADATA_STRIPPED, Status.WRONG_ASSIGNMENT, Status.UNREADABLE]


def worst(statuses: list[Status]) -> Status:
    """The status a student's row shows for several notebooks (``GRADED`` for none)."""
    return max(statuses, key=_SEVERITY.index, default=Status.GRADED)


@dataclass
class Answer:
    """Everything grading says about one student.

    ``tests``: one :class:`TestResult` per test cell of the assignment (every notebook),
    keyed by grade_id, always complete. ``flags``: quoted answer-cell lines the static check
    found (status ``FLAGGED``). ``seconds``: the worker's wall time for this student (None
    when the student was not run).
    """

    student: str
    status: Status
    tests: dict[str, TestResult] = field(default_factory=dict)
    note: str = ""
    flags: list[str] = field(default_factory=list)
    seconds: float | None = None

    @property
    def total(self) -> float:
        return sum(min(t.score, t.max_score) for t in self.tests.values())

    @property
    def max_total(self) -> float:
        return sum(t.max_score for t in self.tests.values())

    def add_note(self, text: str) -> None:
        if text and text not in self.note.split("; "):
            self.note = f"{self.note}; {text}" if self.note else text

    def to_json(self) -> dict:
        data = asdict(self)
        data["status"] = self.status.value
        return data

    @classmethod
    def from_json(cls, data: dict) -> "Answer":
        tests = {gid: TestResult(**t) for gid, t in data.get("tests", {}).items()}
        return cls(student=data["student"], status=Status(data["status"]), tests=tests, note=data.get("note", ""),
                   flags=list(data.get("flags", [])), seconds=data.get("seconds"))

    @classmethod
    def not_run(cls, student: str, status: Status, note: str, max_scores: dict[str, float]) -> "Answer":
        """A row for a student whose notebook could not be run: every test 0 with the reason."""
        why = f"not graded: {status.value}: {note}" if note else f"not graded: {status.value}"
        tests = {gid: TestResult.failed(gid, why, max_score=m) for gid, m in max_scores.items()}
        return cls(student, status, tests, note or status.value)
