"""The corpora's record types, and how a record becomes the notebook a student hands in.

A hand-in starts from the released exercise (what students get) with every solution cell
holding the solution's code (:func:`nbgrader_e2e.student_notebook`), then applies, in
order: ``answers`` (a solution cell's whole code, the student's own), ``edits`` (``(old,
new)`` text replacements in a cell's code), ``added`` (cells of the student's own, each
before a given cell) and, for the robustness cases, ``reshape`` (any change to the file).
What each record expects is a field of the record, next to its code.
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from nbgrader_e2e import add_cell, student_notebook

A1, A2, A3, A4, A5, A6, A7 = ("01-activations", "02-sigmoid", "03-softmax", "04-dim", "05-losses", "06-layers",
                              "07-fashion-mnist")
NOTEBOOK = {A1: "activations.ipynb", A2: "sigmoid.ipynb", A3: "softmax.ipynb", A4: "dim.ipynb", A5: "losses.ipynb",
            A6: "layers.ipynb", A7: "fashion_mnist.ipynb"}

Edits = tuple[str, str] | list[tuple[str, str]]


def code(text: str) -> str:
    """A cell's code written as an indented triple-quoted string: dedented, outer blank lines gone."""
    return textwrap.dedent(text).strip("\n") + "\n"


@dataclass(frozen=True, kw_only=True)
class HandIn:
    """One student's notebook: a unique ``name`` (the student id) for ``assignment``."""

    name: str
    assignment: str
    answers: Mapping[str, str] = field(default_factory=dict)
    edits: Mapping[str, Edits] = field(default_factory=dict)
    #: ``(grade_id the cell goes before, or None for before the first solution cell, code)``.
    added: tuple[tuple[str | None, str], ...] = ()

    @property
    def notebook(self) -> str:
        return NOTEBOOK[self.assignment]

    def build(self, folder: Path) -> Path:
        """Write the notebook to ``folder/<name>/<notebook>``; return its path."""
        path = folder / self.name / self.notebook
        student_notebook(self.assignment, self.notebook, path, bugs=dict(self.edits) or None,
                         answers={gid: code(text) for gid, text in self.answers.items()} or None)
        for before, text in self.added:
            add_cell(path, code(text), before)
        return path


@dataclass(frozen=True, kw_only=True)
class Honest(HandIn):
    """A correct notebook in one ``style``: expects full marks, status ``graded``, and
    ``nbgrader validate`` passing (the expectation is the same for every honest notebook:
    :data:`HONEST_STATUS`)."""

    style: str


#: What every honest notebook must get from ``grade``.
HONEST_STATUS = "graded"


@dataclass(frozen=True, kw_only=True)
class Attempt(HandIn):
    """A shortcut a student who read the grader's source might try.

    ``kind``: the class of the issue it belongs to; ``targets``: what it gets past today, or
    tries to; ``lose``: the test cells it must lose unless the row is ``flagged``. ``works``:
    test cells it passes when nobody watches (the checks run here with every operator
    allowed): the proof that losing ``lose`` in grading comes from the grader seeing the
    shortcut, not from a bug in the attempt."""

    kind: str
    targets: str
    lose: frozenset[str]
    works: frozenset[str]

    def __post_init__(self):
        if not (self.lose and self.works):
            raise ValueError(f"{self.name}: an attempt names the test cells it should lose and those it passes unwatched")


@dataclass(frozen=True, kw_only=True)
class Robust(HandIn):
    """An odd hand-in that must be graded on its merits: status ``status``, the test cells in
    ``lost`` at 0, those in ``may_lose`` at 0 or full, every other one full."""

    what: str
    reshape: Callable[[Path], None] | None = None
    status: str = "graded"
    lost: frozenset[str] = frozenset()
    may_lose: frozenset[str] = frozenset()

    def build(self, folder: Path) -> Path:
        path = super().build(folder)
        if self.reshape is not None:
            self.reshape(path)
        return path
