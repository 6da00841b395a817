"""The prepared course a batch grades against: ``OUT/course``, an nbgrader course whose
gradebook and release come from ``solutions/<assignment>`` (``generate_assignment``).

Preparing one costs seconds (nbgrader's start, the gradebook's migrations), the same for
every ``--out`` graded from the same sources with the same grader. So a freshly generated
course is also kept in the per-user cache (``$XDG_CACHE_HOME/autograder/courses/``, keyed by
the assignment and :func:`source_digest`) and later batches copy it instead. An entry
becomes visible only whole (built aside, then renamed), and the newest :data:`KEEP` stay.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

#: Cached prepared courses kept (each is the assignment's notebooks and a small gradebook).
KEEP = 32
STAMP = ".source-hash"


def source_digest(sources: list[Path]) -> str:
    """Hash of the assignment's source notebooks and the grader's code (a change regrades everyone)."""
    from .merge import digest, grader_code

    return digest(sources + grader_code())


def cache_root() -> Path:
    """Where prepared courses are cached (it need not exist)."""
    from .. import user_cache

    return user_cache() / "courses"


def _current(course: Path, source_hash: str) -> bool:
    stamp = course / STAMP
    return stamp.exists() and stamp.read_text() == source_hash and (course / "gradebook.db").exists()


def _cached(assignment: str, source_hash: str) -> Path | None:
    """The cached course for these sources, generated first when missing; None when the
    cache cannot be written (the caller generates in place)."""
    from ..course import Course

    root = cache_root()
    entry = root / f"{assignment}-{source_hash[:40]}"
    if _current(entry, source_hash):
        return entry
    try:
        root.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(prefix=".building-", dir=root))
    except OSError:
        return None
    try:
        Course(building).add_source(assignment)
        (building / STAMP).write_text(source_hash)
        if entry.exists() and not _current(entry, source_hash):
            shutil.rmtree(entry, ignore_errors=True)  # a copy made by hand, or an older layout
        try:
            building.rename(entry)
        except OSError:  # another batch made it first
            pass
    finally:
        shutil.rmtree(building, ignore_errors=True)
    _prune(root)
    return entry if _current(entry, source_hash) else None


def _prune(root: Path) -> None:
    entries = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                     key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[KEEP:]:
        shutil.rmtree(old, ignore_errors=True)


def prepare_course(out: Path, assignment: str, source_hash: str) -> Path:
    """``out/course`` with the assignment's gradebook: kept when it is current, else copied
    from the cache (or generated) afresh."""
    from ..course import Course

    course = out / "course"
    if _current(course, source_hash):
        return course
    shutil.rmtree(course, ignore_errors=True)
    cached = _cached(assignment, source_hash)
    if cached is None:
        Course(course).add_source(assignment)
    else:
        shutil.copytree(cached, course, ignore=shutil.ignore_patterns(STAMP, "nbgrader_config.py"))
        os.utime(cached)  # recently used: pruned last
        Course(course)  # its own nbgrader_config.py (the course's paths)
    (course / STAMP).write_text(source_hash)
    return course
