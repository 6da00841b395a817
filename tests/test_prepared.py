"""The prepared course (autograder.grading.prepared): generated once per sources and grader,
then copied from the per-user cache into each new ``--out``."""
from __future__ import annotations

import sqlite3

import pytest

from autograder import REPO_ROOT
from autograder.grading import prepared

A = "01-activations"
SOURCES = sorted((REPO_ROOT / "solutions" / A).glob("*.ipynb"))


def gradebook_rows(course) -> dict[str, list]:
    with sqlite3.connect(course / "gradebook.db") as db:
        tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: sorted(map(repr, db.execute(f"SELECT * FROM {t}"))) for t in tables if t != "alembic_version"}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "autograder" / "courses"


@pytest.mark.slow  # nbgrader's generate_assignment: a few seconds
def test_a_new_out_copies_the_cached_course_and_nbgrader_runs_once(tmp_path, cache, monkeypatch):
    from autograder.course import Course

    calls = []
    generate = Course.add_source
    monkeypatch.setattr(Course, "add_source", lambda self, a, *rest: (calls.append(a), generate(self, a, *rest)))
    digest = prepared.source_digest(SOURCES)
    first = prepared.prepare_course(tmp_path / "one", A, digest)
    second = prepared.prepare_course(tmp_path / "two", A, digest)
    assert calls == [A]
    assert [p.name for p in cache.iterdir()] == [f"{A}-{digest[:40]}"]
    assert gradebook_rows(second) == gradebook_rows(first) and gradebook_rows(first)["grade_cells"]
    assert (second / "release" / A / SOURCES[0].name).read_bytes() == (first / "release" / A / SOURCES[0].name).read_bytes()
    assert str(second) in (second / "nbgrader_config.py").read_text()  # its own paths, not the cache's
    # the course in place is kept; a changed grader or source makes another entry
    (second / "gradebook.db").touch()
    assert prepared.prepare_course(tmp_path / "two", A, digest) == second and calls == [A]
    prepared.prepare_course(tmp_path / "three", A, "0" * 64)
    assert calls == [A, A] and len(list(cache.iterdir())) == 2


@pytest.mark.slow
def test_an_unfinished_cache_entry_is_not_used(tmp_path, cache):
    digest = prepared.source_digest(SOURCES)
    half = cache / f"{A}-{digest[:40]}"
    half.mkdir(parents=True)
    (half / "gradebook.db").write_text("not a database")  # no stamp: a copy that never finished
    course = prepared.prepare_course(tmp_path / "out", A, digest)
    assert gradebook_rows(course)["grade_cells"]
    assert gradebook_rows(half)["grade_cells"] and (half / ".source-hash").read_text() == digest  # replaced


def test_an_unwritable_cache_generates_in_place(tmp_path, monkeypatch):
    from autograder.course import Course

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    made = []
    monkeypatch.setattr(Course, "add_source", lambda self, a, *rest: (made.append(self.root), (self.root / "gradebook.db").write_text("")))
    course = prepared.prepare_course(tmp_path / "out", A, "f" * 64)
    assert made == [course.resolve()] and (course / ".source-hash").read_text() == "f" * 64


def test_old_entries_are_pruned_to_the_newest(tmp_path, cache, monkeypatch):
    import os

    cache.mkdir(parents=True)
    for i in range(prepared.KEEP + 3):
        entry = cache / f"x-{i:03d}"
        entry.mkdir()
        os.utime(entry, (i, i))
    prepared._prune(cache)
    assert sorted(p.name for p in cache.iterdir()) == [f"x-{i:03d}" for i in range(3, prepared.KEEP + 3)]
