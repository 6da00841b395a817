"""Notebook facts, asked once: what kind a cell is, its source, its hidden-test spans.

Every part of the course that looks inside an nbgrader notebook (release, grading,
feedback, the similarity report, the tests) asks here. Cell kinds come from
``nbgrader.utils`` (``is_grade``, ``is_solution``, ``is_locked``), on notebooks read with
nbformat. When grading, the kind of a submitted cell is taken from the *source*
notebook by its grade_id (:func:`kinds_by_id`), never from the student's own metadata.
"""
from __future__ import annotations

import ast
import re
from enum import Enum
from pathlib import Path

import nbformat
from nbformat import NotebookNode
from nbgrader import utils as nbu

SOLUTION_BEGIN, SOLUTION_END = "### BEGIN SOLUTION", "### END SOLUTION"
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
MARKERS = (SOLUTION_BEGIN, SOLUTION_END, HIDDEN_BEGIN, HIDDEN_END)
#: A solution or hidden-test block, markers included; group 1 names the kind, group 2 is the body.
BLOCK = re.compile(r"[ \t]*### BEGIN (SOLUTION|HIDDEN TESTS)[ \t]*\n(.*?)[ \t]*### END \1[ \t]*(?:\n|$)", re.S)
#: Lines shorter than this are too generic to count as revealing a hidden block.
DISTINCTIVE = 12


class CellKind(Enum):
    """What a cell is for grading."""

    MARKDOWN = "markdown"
    #: A locked code cell that is not a test (imports, set-up): runs in the student's kernel.
    SETUP = "setup"
    #: A solution cell: the student's answer.
    ANSWER = "answer"
    #: A graded, locked test cell: runs in the referee.
    TEST = "test"
    #: A code cell without nbgrader metadata (one the student added): part of their answers.
    EXTRA = "extra"
    RAW = "raw"


def read(path: Path | str) -> NotebookNode:
    """The notebook at ``path`` as nbformat v4."""
    return nbformat.read(str(path), as_version=4)


def as_node(nb: dict | NotebookNode) -> NotebookNode:
    return nb if isinstance(nb, NotebookNode) else nbformat.from_dict(nb)


def source(cell) -> str:
    """A cell's source as one string (nbformat allows a list of lines on disk)."""
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def grade_id(cell) -> str | None:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta.get("grade_id") if isinstance(meta, dict) else None


def kind(cell) -> CellKind:
    """The cell's kind from its own metadata (use on source notebooks; see :func:`kinds_by_id`)."""
    cell = as_node(cell)
    if cell.cell_type == "markdown":
        return CellKind.MARKDOWN
    if cell.cell_type != "code":
        return CellKind.RAW
    if nbu.is_solution(cell):
        return CellKind.ANSWER
    if nbu.is_grade(cell):
        return CellKind.TEST
    if nbu.is_locked(cell):
        return CellKind.SETUP
    return CellKind.EXTRA


def kinds_by_id(source_nb) -> dict[str, CellKind]:
    """``{grade_id: kind}`` for every cell of a source notebook that has a grade_id."""
    return {gid: kind(c) for c in as_node(source_nb).cells if (gid := grade_id(c))}


def submitted_kind(cell, known: dict[str, CellKind]) -> CellKind:
    """A submitted cell's kind, trusted only through the source notebook: a cell whose
    grade_id the source does not know is the student's own (``EXTRA``) whatever its metadata."""
    cell = as_node(cell)
    if cell.cell_type != "code":
        return CellKind.MARKDOWN if cell.cell_type == "markdown" else CellKind.RAW
    return known.get(grade_id(cell) or "", CellKind.EXTRA)


def test_cells(nb) -> dict[str, NotebookNode]:
    """``{grade_id: cell}`` of the test cells, in notebook order."""
    return {grade_id(c): c for c in as_node(nb).cells if kind(c) is CellKind.TEST}


def points(cell) -> float:
    """A graded cell's points (0 when it carries none)."""
    return float(as_node(cell).get("metadata", {}).get("nbgrader", {}).get("points", 0) or 0)


def marked_locked(cell) -> bool:
    """Whether the cell's own metadata says ``locked`` (nbgrader treats every graded cell as
    locked whatever it says; the release's lint wants the flag written)."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(isinstance(meta, dict) and meta.get("locked"))


def max_scores(nb) -> dict[str, float]:
    """``{grade_id: points}`` of the test cells, in notebook order."""
    return {gid: points(c) for gid, c in test_cells(nb).items()}


def blocks(text: str, which: str) -> list[str]:
    """The bodies of ``which`` blocks (``"SOLUTION"`` or ``"HIDDEN TESTS"``) in ``text``."""
    return [m.group(2) for m in BLOCK.finditer(text) if m.group(1) == which]


#: A solution marker line (what a student's copy of a solution cell must not contain).
MARKER_LINE = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*(\n|\Z)", re.M)


def solution_code(text: str) -> str:
    """A source cell's solution as a student who solved it would hand it in: markers removed."""
    return MARKER_LINE.sub("", text)


def solutions(nb) -> dict[str, str]:
    """``{grade_id: code}`` of a source notebook's answer cells, as a student who solved them
    would hand them in (markers removed), in notebook order."""
    return {grade_id(c): solution_code(source(c)) for c in as_node(nb).cells if kind(c) is CellKind.ANSWER}


def without_hidden(text: str) -> str:
    """A test cell's source as the student sees it: hidden-test blocks removed."""
    return BLOCK.sub(lambda m: "" if m.group(1) == "HIDDEN TESTS" else m.group(0), text).rstrip()


def _distinctive_lines(nb, which: tuple[str, ...]) -> set[str]:
    inside, outside = set(), set()
    for cell in as_node(nb).cells:
        text = source(cell)
        for m in BLOCK.finditer(text):
            if m.group(1) in which:
                inside.update(line.strip() for line in m.group(2).splitlines() if len(line.strip()) >= DISTINCTIVE)
        outside.update(line.strip() for line in BLOCK.sub("", text).splitlines())
    return inside - outside


def hidden_test_lines(source_nb) -> set[str]:
    """Distinctive lines of the source's hidden-test blocks found nowhere else in it: what a
    feedback page must never show. (Solution lines are not in it: a student's own correct
    code may equal them.)"""
    return _distinctive_lines(source_nb, ("HIDDEN TESTS",))


def secret_lines(source_nb) -> set[str]:
    """Distinctive lines of the solution and hidden-test blocks: what a release must not contain."""
    return _distinctive_lines(source_nb, ("SOLUTION", "HIDDEN TESTS"))


def answer_sources(submitted, source_nb) -> list[str]:
    """The student's own code: every code cell of ``submitted`` that the source notebook
    does not lock (answer cells and cells the student added), in order."""
    known = kinds_by_id(source_nb)
    return [source(c) for c in as_node(submitted).cells
            if submitted_kind(c, known) in (CellKind.ANSWER, CellKind.EXTRA)]


def setup_imports(source_nb) -> str:
    """The top-level import statements of the source notebook's locked set-up cells, one
    per line (what a test cell may use besides its own imports)."""
    lines = []
    for cell in as_node(source_nb).cells:
        if kind(cell) is not CellKind.SETUP:
            continue
        try:
            tree = ast.parse(source(cell))
        except SyntaxError:
            continue
        lines += [ast.unparse(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    return "\n".join(lines)
