"""Grading the corpora cheaply: one ``grade`` batch per assignment, one validate run for all.

Every hand-in of every corpus (honest, shortcuts, robustness) for one assignment is graded
in a single ``python -m autograder grade`` run (two workers), the first time any test asks
for that assignment, together with the extra notebooks that first test brings (a chapter's
classic mistakes, :func:`nbgrader_e2e.assert_grading`): a ``grade`` run costs seconds
before its first notebook, paid once per assignment. Extras asked for after their
assignment's batch ran are graded in a batch of their own. The honest notebooks are all
validated in one :func:`validate_batch` (two processes). The seconds each batch took are
kept, for the report.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Mapping

from nbgrader_e2e import Graded, grade_batch, validate_batch

from . import honest, robustness, shortcuts
from .model import HandIn

HAND_INS: list[HandIn] = [*honest.NOTEBOOKS, *shortcuts.ATTEMPTS, *robustness.CASES]
if len({h.name for h in HAND_INS}) != len(HAND_INS):
    raise ValueError("two hand-ins of the corpora share a name (it is their student id in one batch)")


class CorpusGrades:
    """The corpora's notebooks built under ``root`` and graded on demand (see the module docstring)."""

    def __init__(self, root: Path):
        self.root = root
        self.seconds: dict[str, float] = {}
        self._graded: dict[str, dict[str, Graded]] = {}
        self._out: dict[tuple[str, str], Path] = {}
        self._validated: dict[str, dict] | None = None
        self._built: dict[str, Path] = {}

    def path(self, hand_in: HandIn) -> Path:
        """The notebook of ``hand_in``, written once."""
        if hand_in.name not in self._built:
            self._built[hand_in.name] = hand_in.build(self.root / "hand-ins")
        return self._built[hand_in.name]

    def graded(self, assignment: str, extra: Mapping[str, Callable[[Path], Path]] | None = None) -> dict[str, Graded]:
        """``{name: row}`` for every hand-in of ``assignment``, and for each of ``extra``
        (``{name: build}``, ``build(folder)`` writing that notebook under ``folder``)."""
        extra = dict(extra or {})
        rows = self._graded.setdefault(assignment, {})
        batch = {h.name: self.path(h) for h in HAND_INS if h.assignment == assignment and not rows}
        clash = set(batch) & set(extra)
        if clash:
            raise ValueError(f"extra hand-ins named as corpus ones: {sorted(clash)}")
        batch |= {name: build(self.root / "hand-ins" / assignment) for name, build in extra.items() if name not in rows}
        if batch:
            run = self.root / "grade" / f"{assignment}-{len(self.seconds)}"
            start = time.perf_counter()
            rows |= grade_batch(run, assignment, batch)
            self.seconds[f"grade {assignment} ({len(batch)} notebooks)"] = time.perf_counter() - start
            self._out |= {(assignment, name): run / "out" for name in batch}
        return rows

    def out(self, assignment: str, name: str) -> Path:
        """The ``--out`` folder of the batch that graded ``name`` (its feedback pages are there)."""
        return self._out[(assignment, name)]

    def validated(self) -> dict[str, dict]:
        """``{name: what nbgrader validate found}`` for every honest notebook (``{}``: it passes)."""
        if self._validated is None:
            paths = {nb.name: self.path(nb) for nb in honest.NOTEBOOKS}
            start = time.perf_counter()
            found = validate_batch(list(paths.values()))
            self.seconds[f"validate ({len(paths)} notebooks)"] = time.perf_counter() - start
            self._validated = {name: found[path] for name, path in paths.items()}
        return self._validated
