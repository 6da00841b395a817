"""Odd hand-ins are graded on their merits (issue 17, point 6): ``tests/corpus/robustness.py``.

A duplicated or moved test cell, re-ordered sections, a function raising an exception that
is not an ``Exception``, an nbformat 3 or old 4.x file: each is graded by ``python -m
autograder grade`` (in chapter 1's batch, shared with the other corpora) with the status and
per-test scores its case states: the tests in ``lost`` at 0, those in ``may_lose`` at 0 or
full, every other one full.
"""
from __future__ import annotations

import json

import nbformat
import pytest

from corpus.robustness import CASES
from nbgrader_e2e import needs_sandbox


def test_the_old_formats_are_valid_notebooks_of_their_version(tmp_path):
    by_name = {case.name: case for case in CASES}
    for name, version in (("r-nbformat-3", (3, 0)), ("r-nbformat-4-0", (4, 0)), ("r-nbformat-4-1", (4, 1))):
        data = json.loads(by_name[name].build(tmp_path).read_text())
        assert (data["nbformat"], data["nbformat_minor"]) == version, name
        nbformat.validate(data, version=version[0], version_minor=version[1])
        assert (version[0] == 3) == ("worksheets" in data), name


def test_each_case_changes_the_notebook(tmp_path):
    from corpus.model import HandIn

    plain = HandIn(name="plain", assignment=CASES[0].assignment).build(tmp_path).read_text()
    unchanged = [case.name for case in CASES if case.build(tmp_path).read_text() == plain]
    assert not unchanged, unchanged


@pytest.mark.slow
@needs_sandbox
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_odd_hand_in_is_graded_on_its_merits(case, corpus_grades):
    row = corpus_grades.graded(case.assignment)[case.name]
    wrong = {}
    for gid, s in row.scores.items():
        if gid in case.lost and s.score != 0:
            wrong[gid] = f"{s.score:g}/{s.max_score:g}, expected 0"
        elif gid not in case.lost | case.may_lose and s.score != s.max_score:
            wrong[gid] = f"{s.score:g}/{s.max_score:g}, expected full: {row.messages.get(gid, '')}"
    assert row.status == case.status and not wrong, (
        f"{case.name} ({case.what}): expected status {case.status!r}, lost {sorted(case.lost)}"
        + (f", maybe {sorted(case.may_lose)}" if case.may_lose else "") + f"; got status {row.status!r}"
        + (f" ({row.note})" if row.note else "") + "".join(f"\n- {gid}: {w}" for gid, w in wrong.items()))
