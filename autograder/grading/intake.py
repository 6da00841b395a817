"""Finding the submissions: who handed in what.

Two input layouts:

* nbgrader's ``submitted`` layout: a folder with one sub-folder per student, holding the
  notebooks directly or in ``<student>/<assignment>/``. The sub-folder's name is the
  student id.
* An LMS export: a folder or a ``.zip`` of notebook files named
  ``<student>_<anything>_<notebook>.ipynb`` (Moodle: ``Full Name_123_assignsubmission_file_activations.ipynb``,
  Canvas: ``doejane_12345_67890_activations.ipynb``, a re-submission ``..._activations-1.ipynb``).
  The student id is the text before the first ``_``; the notebook is the assignment
  notebook whose name ends the file name (before ``.ipynb``, ignoring a ``-N`` suffix).
  Several files for one student and notebook: the highest ``-N`` (else the last name in
  sorted order) is graded and the note says so.

Student ids are reduced to letters, digits, ``.``, ``_`` and ``-``. A student folder
with exactly one notebook of another name, for a one-notebook assignment, is graded
under the right name with a note; no notebook at all is ``missing notebook``.
Unreadable files (empty, invalid JSON, not a notebook) are ``unreadable``; a notebook
without any of the assignment's test cells is ``wrong assignment`` (or
``metadata stripped`` when no cell carries nbgrader metadata at all).
"""
from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from .answer import Status

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
_RESUBMIT = re.compile(r"^(?P<stem>.*?)(?:-(?P<n>\d+))?$")


@dataclass
class Submission:
    """One student's hand-in: ``notebooks`` maps notebook name (no ``.ipynb``) to a file.

    ``problem`` is a status and its reason when the hand-in cannot be graded.
    """

    student: str
    notebooks: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    problem: tuple[Status, str] | None = None


def student_id(text: str) -> str:
    """``text`` made safe as an nbgrader student id (never empty)."""
    return _SAFE.sub("-", text.strip()).strip("-.") or "unnamed"


def unpack(path: Path, into: Path) -> Path:
    """A folder holding the input: ``path`` itself, or a zip extracted (safely) into ``into``."""
    if path.is_dir():
        return path
    if zipfile.is_zipfile(path):
        into.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(path) as archive:
            for member in archive.infolist():
                name = Path(member.filename)
                if member.is_dir() or name.is_absolute() or ".." in name.parts:
                    continue
                target = into / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(archive.read(member))
        return into
    raise FileNotFoundError(f"{path} is neither a folder nor a zip file")


def _match(filename: str, notebooks: list[str]) -> tuple[str | None, int]:
    stem = filename[: -len(".ipynb")]
    m = _RESUBMIT.match(stem)
    for base, n in ((stem, 0), (m.group("stem"), int(m.group("n") or 0))):
        for name in sorted(notebooks, key=len, reverse=True):
            if base == name or base.endswith("_" + name):
                return name, n
    return None, 0


def find(root: Path, notebooks: list[str]) -> list[Submission]:
    """Every student found under ``root`` (a folder), sorted by id."""
    subdirs = [p for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith(".")]
    loose = sorted(p for p in root.iterdir() if p.is_file() and p.suffix == ".ipynb")
    found: dict[str, Submission] = {}
    for folder in subdirs:
        sub = found.setdefault(student_id(folder.name), Submission(student_id(folder.name)))
        files = sorted(p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
        _assign(sub, [(p, p.name) for p in files], notebooks, lenient=True)
    by_student: dict[str, list[tuple[Path, str]]] = {}
    for path in loose:
        who = student_id(path.name.split("_", 1)[0]) if "_" in path.name else student_id(path.stem)
        by_student.setdefault(who, []).append((path, path.name))
    for who, files in by_student.items():
        sub = found.setdefault(who, Submission(who))
        _assign(sub, files, notebooks, lenient=False)
    for sub in found.values():
        if not sub.notebooks and sub.problem is None:
            sub.problem = (Status.MISSING_NOTEBOOK, "no notebook of this assignment was found")
    return [found[k] for k in sorted(found)]


def _assign(sub: Submission, files: list[tuple[Path, str]], notebooks: list[str], *, lenient: bool) -> None:
    chosen: dict[str, tuple[int, str, Path]] = {}
    unmatched = []
    counts: dict[str, int] = {}
    for path, name in files:
        nb, n = _match(name, notebooks)
        if nb is None:
            unmatched.append(path)
            continue
        counts[nb] = counts.get(nb, 0) + 1
        key = (n, name, path)
        if nb not in chosen or key[:2] > chosen[nb][:2]:
            chosen[nb] = key
    for nb, count in counts.items():
        if count > 1:
            sub.notes.append(f"{count} files for {nb}.ipynb: graded {chosen[nb][1]}")
    if lenient and not chosen and len(unmatched) == 1 and len(notebooks) == 1:
        chosen[notebooks[0]] = (0, unmatched[0].name, unmatched[0])
        sub.notes.append(f"graded {unmatched[0].name} as {notebooks[0]}.ipynb (wrong file name)")
        unmatched = []
    for path in unmatched:
        sub.notes.append(f"ignored {path.name} (not a notebook of this assignment)")
    sub.notebooks.update({nb: path for nb, (_, _, path) in chosen.items()})


def check_notebook(path: Path, grade_ids: set[str]) -> tuple[Status, str] | None:
    """Why ``path`` cannot be graded (a status and reason), or None when it can."""
    data = path.read_bytes()
    if not data.strip():
        return Status.UNREADABLE, "empty file"
    try:
        nb = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return Status.UNREADABLE, "invalid JSON"
    if not isinstance(nb, dict) or "nbformat" not in nb or not isinstance(nb.get("cells", nb.get("worksheets")), list):
        return Status.UNREADABLE, "not a notebook"
    try:
        import nbformat

        nb = nbformat.reads(data.decode("utf-8"), as_version=4)  # nbformat 3 and old 4.x are converted
    except Exception as err:  # noqa: BLE001 - nbformat raises many kinds
        return Status.UNREADABLE, f"not a valid notebook ({type(err).__name__})"
    cells = [c for c in nb.get("cells", []) if isinstance(c, dict)]
    metas = [c.get("metadata", {}).get("nbgrader") for c in cells if isinstance(c.get("metadata"), dict)]
    ids = {m.get("grade_id") for m in metas if isinstance(m, dict)}
    if not any(isinstance(m, dict) for m in metas):
        return (Status.METADATA_STRIPPED,
                "no cell carries nbgrader metadata (ask for the notebook as downloaded, edited in Jupyter)")
    if not ids & grade_ids:
        return Status.WRONG_ASSIGNMENT, "none of this assignment's test cells are in the notebook"
    return None
