"""Releasing exercises: ``solutions/<assignment>/`` -> ``exercises/<assignment>/``.

``solutions/`` is the one source: nbgrader source notebooks holding solutions, visible
tests and hidden tests. Each exercise's rules cell is written from its rule table
(:mod:`autograder.checks.rules`) into the source first (:func:`write_rules`), so the text a
student reads is the rule the grader applies. :func:`release` lints the sources
(:func:`lint_notebook`), runs
``nbgrader generate_assignment`` in a private temporary course directory (so no
gradebook or log lands in the repo), checks the result leaks nothing
(:func:`leaks`), and replaces ``exercises/<assignment>/`` with it.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from . import REPO_ROOT
from . import notebook as nbfacts
from .chapters import exercise
from .checks import rules_text
from .tools import run_tool

SOLUTION_MARK = nbfacts.SOLUTION_BEGIN
HIDDEN_MARK = nbfacts.HIDDEN_BEGIN


class ReleaseError(Exception):
    """The sources cannot be released as they are; the message lists every problem."""


def assignments(repo: Path = REPO_ROOT) -> list[str]:
    """Names of the assignments in ``solutions/`` (folders holding a notebook), sorted."""
    root = repo / "solutions"
    return sorted(p.name for p in root.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def lint_notebook(path: Path) -> list[str]:
    """Problems in one source notebook: outputs left in, test cells that are not
    locked or carry no points, markers in the wrong kind of cell, duplicate ids."""
    problems = []
    seen: set[str] = set()
    for i, cell in enumerate(nbfacts.read(path).cells):
        where, kind, src = f"{path.name} cell {i}", nbfacts.kind(cell), nbfacts.source(cell)
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None):
            problems.append(f"{where}: has outputs or an execution count (clear them: solutions are committed without outputs)")
        grade_id = nbfacts.grade_id(cell)
        if grade_id:
            if grade_id in seen:
                problems.append(f"{where}: duplicate grade_id {grade_id!r}")
            seen.add(grade_id)
        if kind is nbfacts.CellKind.TEST:
            if not nbfacts.marked_locked(cell):
                problems.append(f"{where} ({grade_id}): test cell is not locked")
            if not nbfacts.points(cell) > 0:
                problems.append(f"{where} ({grade_id}): test cell has no points")
        if HIDDEN_MARK in src and kind is not nbfacts.CellKind.TEST:
            problems.append(f"{where}: hidden tests outside a graded test cell")
        if SOLUTION_MARK in src and kind is not nbfacts.CellKind.ANSWER:
            problems.append(f"{where}: solution markers in a cell that is not a solution cell")
    return problems


def leaks(source, released) -> list[str]:
    """What the ``released`` notebook reveals of its ``source`` (notebooks, or their JSON as
    dicts): markers, solution code or hidden tests."""
    found = []
    text = "\n".join(nbfacts.source(c) for c in nbfacts.as_node(released).cells)
    for mark in nbfacts.MARKERS:
        if mark in text:
            found.append(f"marker {mark!r}")
    lines = {line.strip() for line in text.splitlines()}
    found += [f"line {line!r}" for line in sorted(nbfacts.secret_lines(source) & lines)]
    return found


_CONFIG = """\
c = get_config()
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\\nraise NotImplementedError()"}
"""


def rules_cell(exercise):
    """The locked markdown cell that states ``exercise``'s rules (written from its table)."""
    import nbformat

    cell = nbformat.v4.new_markdown_cell(exercise.markdown(), id=rules_text.CELL_ID)
    cell.metadata["nbgrader"] = {"grade": False, "grade_id": rules_text.CELL_ID, "locked": True, "schema_version": 3,
                                 "solution": False, "task": False}
    return cell


def write_rules(path: Path, exercise) -> bool:
    """Rewrite the rules cell of the source notebook at ``path`` from ``exercise``'s table
    (inserted after the first cell when it is missing); True when the file changed."""
    import nbformat

    nb = nbfacts.read(path)
    cell = rules_cell(exercise)
    index = next((i for i, c in enumerate(nb.cells) if nbfacts.grade_id(c) == rules_text.CELL_ID), None)
    if index is None:
        nb.cells.insert(1, cell)
    elif nb.cells[index].source == cell.source and nb.cells[index].metadata == cell.metadata:
        return False
    else:
        nb.cells[index].source, nb.cells[index].metadata = cell.source, cell.metadata
    nbformat.write(nb, str(path))
    return True


def generate(course: Path, name: str) -> None:
    """Run ``nbgrader generate_assignment`` for ``name`` in the course folder ``course``."""
    result = run_tool("nbgrader", "generate_assignment", name, "--force", "--CourseDirectory.root=" + str(course), cwd=course)
    if result.returncode != 0:
        raise ReleaseError(f"nbgrader generate_assignment {name} failed:\n{result.stdout}{result.stderr}")


def stamp_kit_version(folder: Path) -> None:
    """Record the student kit's version in each source notebook copied into ``folder``
    (:func:`autograder.student_kit.stamp_notebook`)."""
    from .student_kit import KitError, stamp_notebook

    import nbformat

    for path in sorted(folder.glob("*.ipynb")):
        try:
            nb = stamp_notebook(nbfacts.read(path))
        except KitError as err:
            raise ReleaseError(f"{folder.name}/{path.name}: {err}") from err
        nbformat.write(nb, str(path))


def release(repo: Path = REPO_ROOT, names: list[str] | None = None, target: Path | None = None) -> list[Path]:
    """Regenerate ``exercises/<name>/`` (or ``target/<name>/``) for each assignment.

    Refuses (``ReleaseError``) when a source notebook fails :func:`lint_notebook` or the
    generated notebook :func:`leaks`. Returns the notebooks written.
    """
    names = names or assignments(repo)
    unknown = sorted(set(names) - set(assignments(repo)))
    if unknown:
        raise ReleaseError(f"no such assignment in solutions/: {', '.join(unknown)}")
    for name in names:
        table = exercise(name)
        if table is not None:
            for nb in sorted((repo / "solutions" / name).glob("*.ipynb")):
                write_rules(nb, table)
    problems = [p for n in names for nb in sorted((repo / "solutions" / n).glob("*.ipynb")) for p in lint_notebook(nb)]
    if problems:
        raise ReleaseError("\n".join(problems))
    target = target or repo / "exercises"
    written = []
    with tempfile.TemporaryDirectory(prefix="release-") as tmp:
        course = Path(tmp)
        (course / "nbgrader_config.py").write_text(_CONFIG)
        for name in names:
            shutil.copytree(repo / "solutions" / name, course / "source" / name,
                            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
            stamp_kit_version(course / "source" / name)
            generate(course, name)
            out = course / "release" / name
            for nb in sorted(out.glob("*.ipynb")):
                found = leaks(nbfacts.read(repo / "solutions" / name / nb.name), nbfacts.read(nb))
                if found:
                    raise ReleaseError(f"{name}/{nb.name} would leak: " + "; ".join(found))
            dest = target / name
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(out, dest)
            written += sorted(dest.glob("*.ipynb"))
    return written
