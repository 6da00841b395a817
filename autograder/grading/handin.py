"""A hand-in as nbgrader grades it: a copy whose nbgrader metadata is the release's.

A student's metadata never decides what a cell is: :func:`place` writes a copy of the
hand-in in which every cell's nbgrader metadata is the released notebook's, by grade_id.
"""
from __future__ import annotations

import copy
import shutil
from pathlib import Path

import nbformat

from .. import notebook as nbfacts


def place(path: Path, dest: Path, release_nb) -> None:
    """Copy a hand-in for nbgrader, every cell's nbgrader metadata taken from the released
    notebook by grade_id (a cell the release does not know loses it: it is the student's
    own). A student's metadata never decides what a cell is, and nbgrader does not stop on
    a notebook whose metadata was edited. A grade_id seen twice (a copy-pasted cell) keeps
    its metadata on the first copy only: later copies of an answer cell run as the
    student's own code, later copies of a test cell are left empty. Notebooks of nbformat 3
    or an old 4.x are written as 4.x. The original file is not touched."""
    released = {nbfacts.grade_id(c): c for c in release_nb.cells if nbfacts.grade_id(c)}
    try:
        nb = nbfacts.read(path)
    except Exception:  # noqa: BLE001 - intake checked it; copy as it is and let nbgrader say
        shutil.copyfile(path, dest)
        return
    seen: set[str] = set()
    for cell in nb.cells:
        gid = nbfacts.grade_id(cell)
        if gid in released and released[gid].cell_type == cell.cell_type and gid not in seen:
            cell.metadata["nbgrader"] = copy.deepcopy(released[gid].metadata["nbgrader"])
            seen.add(gid)
            continue
        if gid in seen and nbfacts.kind(released[gid]) is nbfacts.CellKind.TEST:
            # a copy-pasted test cell: the test runs once, where it first appears
            cell.source = f"# a second copy of the test cell {gid}: it is graded once, where it first appears"
        cell.metadata.pop("nbgrader", None)
    nbformat.write(nb, str(dest))
