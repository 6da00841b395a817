"""Odd hand-ins that must be graded on their merits (issue 17, point 6), on chapter 1.

Each case is the correct notebook changed in one way a real hand-in can be: a test cell
copied twice or moved, sections re-ordered, a function that raises an exception that is
not an ``Exception`` (``KeyboardInterrupt``, ``SystemExit``, ``GeneratorExit``, a
``BaseException`` of the student's own), the notebook saved as nbformat 3 or as an old 4.x.
Its expected outcome sits beside it: the status, the test cells that score 0 (``lost``) or
may (``may_lose``); every other test cell earns its points.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import nbformat

from .model import A1, Robust


def _cells(path: Path) -> tuple[dict, list[dict]]:
    nb = json.loads(path.read_text())
    return nb, nb["cells"]


def _index(cells: list[dict], grade_id: str) -> int:
    return next(i for i, c in enumerate(cells) if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)


def duplicate(grade_id: str) -> Callable[[Path], None]:
    """The cell ``grade_id`` pasted again right after itself (same grade_id twice)."""
    def reshape(path: Path) -> None:
        nb, cells = _cells(path)
        at = _index(cells, grade_id)
        copy = json.loads(json.dumps(cells[at]))
        if "id" in copy:
            copy["id"] = copy["id"][:-2] + "c1"
        cells.insert(at + 1, copy)
        path.write_text(json.dumps(nb))
    return reshape


def move(grade_id: str, before: str | None) -> Callable[[Path], None]:
    """The cell ``grade_id`` moved before the cell ``before`` (None: to the end)."""
    def reshape(path: Path) -> None:
        nb, cells = _cells(path)
        cell = cells.pop(_index(cells, grade_id))
        cells.insert(len(cells) if before is None else _index(cells, before), cell)
        path.write_text(json.dumps(nb))
    return reshape


def move_section(first: str, last: str, before: str) -> Callable[[Path], None]:
    """The cells from ``first`` to ``last`` (a whole section) moved before the cell ``before``."""
    def reshape(path: Path) -> None:
        nb, cells = _cells(path)
        start, end = _index(cells, first), _index(cells, last) + 1
        section = cells[start:end]
        del cells[start:end]
        at = _index(cells, before)
        cells[at:at] = section
        path.write_text(json.dumps(nb))
    return reshape


def as_nbformat_3(path: Path) -> None:
    """The notebook saved as nbformat 3 (worksheets, ``input``, ``prompt_number``), by nbformat itself."""
    nbformat.write(nbformat.convert(nbformat.read(str(path), as_version=4), 3), str(path), version=3)


def as_nbformat_4(minor: int) -> Callable[[Path], None]:
    """The notebook as an old nbformat 4.``minor`` file: no cell ids (they came with 4.5)."""
    def reshape(path: Path) -> None:
        nb, cells = _cells(path)
        nb["nbformat_minor"] = minor
        for cell in cells:
            cell.pop("id", None)
        path.write_text(json.dumps(nb, indent=1))
    return reshape


RELU_BODY = "return torch.where(x > 0, x, torch.zeros_like(x))"

CASES = [
    Robust(name="r-duplicated-test-cell", assignment=A1, what="test_relu pasted twice (the same grade_id twice)",
           reshape=duplicate("test_relu")),
    Robust(name="r-duplicated-answer-cell", assignment=A1,
           what="relu_solution pasted twice (the same grade_id twice, both holding the answer)",
           reshape=duplicate("relu_solution")),
    Robust(name="r-test-moved-to-the-end", assignment=A1, what="test_step moved to the end of the notebook",
           reshape=move("test_step", None)),
    Robust(name="r-test-moved-above-its-answer", assignment=A1,
           what="test_relu moved above relu's answer cell: relu is not defined yet when it runs",
           reshape=move("test_relu", "relu_solution"), may_lose=frozenset({"test_relu"})),
    Robust(name="r-sections-reordered", assignment=A1, what="the ReLU section moved before the step section",
           reshape=move_section("relu_md", "test_relu_derivative", "step_md")),
    Robust(name="r-raises-keyboard-interrupt", assignment=A1, what="step raises KeyboardInterrupt when called",
           edits={"step_solution": ("return (x > 0).to(x.dtype)", "raise KeyboardInterrupt")},
           lost=frozenset({"test_step"})),
    Robust(name="r-raises-system-exit", assignment=A1, what="relu raises SystemExit when called",
           edits={"relu_solution": (RELU_BODY, "raise SystemExit('relu is not done')")},
           lost=frozenset({"test_relu"})),
    Robust(name="r-raises-generator-exit", assignment=A1, what="relu_derivative raises GeneratorExit when called",
           edits={"relu_solution": ("return (x > 0).to(x.dtype)", "raise GeneratorExit")},
           lost=frozenset({"test_relu_derivative"})),
    Robust(name="r-raises-base-exception-subclass", assignment=A1,
           what="step_derivative raises a BaseException subclass of the student's own",
           edits={"step_solution": [("def step_derivative(x):", "class Unfinished(BaseException):\n    pass\n\n\n"
                                                                 "def step_derivative(x):"),
                                    ("return torch.zeros_like(x)", "raise Unfinished('later')")]},
           lost=frozenset({"test_step_derivative"})),
    Robust(name="r-cell-raises-system-exit", assignment=A1,
           what="a cell of the student's own ends with exit(): SystemExit at the top level",
           added=(("relu_md", "print('done for today')\nraise SystemExit"),)),
    Robust(name="r-cell-raises-keyboard-interrupt", assignment=A1,
           what="a cell of the student's own raises KeyboardInterrupt at the top level (a run stopped by hand)",
           added=(("relu_md", "raise KeyboardInterrupt"),)),
    Robust(name="r-nbformat-3", assignment=A1, what="the correct notebook saved as a valid nbformat 3 notebook",
           reshape=as_nbformat_3),
    Robust(name="r-nbformat-4-0", assignment=A1, what="the correct notebook as nbformat 4.0 (no cell ids)",
           reshape=as_nbformat_4(0)),
    Robust(name="r-nbformat-4-1", assignment=A1, what="the correct notebook as nbformat 4.1 (no cell ids)",
           reshape=as_nbformat_4(1)),
]
