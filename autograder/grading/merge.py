"""The result cache (what makes a rerun cheap) and the main gradebook.

Each student's answer is kept in ``DIR/results/<student>.json`` with a key: the hash of
the assignment's source notebooks, the grading settings and the student's files. A
rerun grades only students whose key changed. :func:`to_gradebook` writes every
per-cell score into the main nbgrader gradebook (``DIR/course/gradebook.db``).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .. import REPO_ROOT
from .answer import Answer

#: Bump when grading rules change, so cached results are regraded.
GRADER_VERSION = "2"


def digest(paths: list[Path], extra: str = "") -> str:
    """sha256 over ``extra`` and the named files' names and bytes."""
    h = hashlib.sha256(extra.encode())
    for path in paths:
        h.update(path.name.encode() + b"\0" + Path(path).read_bytes() + b"\0")
    return h.hexdigest()


def grader_code() -> list[Path]:
    """The grader's own source files (``autograder/`` and ``autograder_kernel/``), sorted: a
    change to any of them regrades everyone, and every Dask worker must hold the same."""
    return sorted((REPO_ROOT / "autograder").rglob("*.py")) + sorted((REPO_ROOT / "autograder_kernel").rglob("*.py"))


def cache_key(source_hash: str, settings: str, notebooks: dict[str, Path], problem: str | None) -> str:
    return digest([notebooks[k] for k in sorted(notebooks)], f"{GRADER_VERSION}|{source_hash}|{settings}|{problem}|{sorted(notebooks)}")


def load(results: Path, student: str, key: str) -> Answer | None:
    """The cached answer for ``student`` if its key is ``key``."""
    path = results / f"{student}.json"
    if not path.exists():
        return None
    try:
        saved = json.loads(path.read_text())
        return Answer.from_json(saved["answer"]) if saved.get("key") == key else None
    except (ValueError, KeyError, TypeError):
        return None


def save(results: Path, student: str, key: str, answer: Answer) -> None:
    results.mkdir(parents=True, exist_ok=True)
    (results / f"{student}.json").write_text(json.dumps({"key": key, "answer": answer.to_json()}, indent=1,
                                                        sort_keys=True))


def to_gradebook(db: Path, assignment: str, answers: list[Answer]) -> None:
    """Write each answer's per-cell scores into the gradebook at ``db`` (students created)."""
    import warnings

    from nbgrader.api import Gradebook, MissingEntry

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLAlchemy's autoflush notes from nbgrader's own add_submission
        _write(db, assignment, answers, Gradebook, MissingEntry)


def _write(db, assignment, answers, Gradebook, MissingEntry) -> None:
    with Gradebook(f"sqlite:///{db}") as gb:
        for answer in answers:
            student = answer.student
            gb.update_or_create_student(student)
            try:
                submission = gb.find_submission(assignment, student)
            except MissingEntry:
                submission = gb.add_submission(assignment, student)
            for nb in submission.notebooks:
                for grade in nb.grades:
                    test = answer.tests.get(grade.name)
                    grade.auto_score = min(test.score if test else 0.0, float(grade.max_score))
                    grade.needs_manual_grade = False
            gb.db.commit()
