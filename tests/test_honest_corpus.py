"""Honest work is graded fairly (issue 17): the honest corpus (``tests/corpus/honest``).

Every correct notebook, in every style a class writes, gets full marks with status
``graded`` from ``python -m autograder grade`` (each assignment's notebooks in one batch,
shared with the other corpora), and passes ``nbgrader validate`` (all of them in one run of
two processes). A failure names the notebook, its style, and for each test it lost the
grader's message (or validate's error).
"""
from __future__ import annotations

import json

import pytest

from autograder import notebook as nbfacts
from autograder.release import assignments
from corpus import local
from corpus.honest import NOTEBOOKS
from corpus.model import HONEST_STATUS
from nbgrader_e2e import needs_sandbox


def test_the_honest_corpus_has_40_notebooks_over_every_assignment_and_each_builds(tmp_path):
    names = [nb.name for nb in NOTEBOOKS]
    assert len(names) == len(set(names)), "two honest notebooks share a name"
    assert len(NOTEBOOKS) >= 40
    per_assignment = {a: sum(nb.assignment == a for nb in NOTEBOOKS) for a in assignments()}
    assert min(per_assignment.values()) >= 5, per_assignment
    for nb in NOTEBOOKS:
        path = nb.build(tmp_path)  # every answer, edit and added cell applies
        nbfacts.read(path)
        assert json.loads(path.read_text())["nbformat"] == 4


def _describe(nb) -> str:
    return f"{nb.name} ({nb.assignment}; {nb.style})"


@pytest.mark.slow
@needs_sandbox
@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda nb: nb.name)
def test_honest_notebook_gets_full_marks_with_status_graded(nb, corpus_grades):
    row = corpus_grades.graded(nb.assignment)[nb.name]
    lost = {gid: s for gid, s in row.scores.items() if s.score < s.max_score}
    details = "\n".join(f"- {gid}: {s.score:g}/{s.max_score:g}: {row.messages.get(gid, '')}" for gid, s in lost.items())
    assert row.status == HONEST_STATUS and not lost, (
        f"{_describe(nb)}: expected full marks with status {HONEST_STATUS!r}; got status {row.status!r}"
        + (f" ({row.note})" if row.note else "") + (f", lost:\n{details}" if lost else ""))


def _failed_cells(assignment: str, found: dict) -> dict[str, str]:
    """``{grade_id: error}`` of the test cells validate reports as failed (matched by source)."""
    by_source = {nbfacts.without_hidden(src).strip(): gid for gid, src in local.test_sources(assignment).items()}
    return {by_source.get(cell["source"].strip(), cell["source"][:60]): cell.get("raw_error", "")
            for cell in found.get("failed", [])}


@pytest.mark.slow
@needs_sandbox
@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda nb: nb.name)
def test_honest_notebook_passes_nbgrader_validate(nb, corpus_grades):
    found = corpus_grades.validated()[nb.name]
    failed = _failed_cells(nb.assignment, found)
    details = "\n".join(f"- {gid}: {error.replace(chr(27) + '[0;31m', '').replace(chr(27) + '[0m', '')}"
                        for gid, error in failed.items())
    assert not found, f"{_describe(nb)}: nbgrader validate should pass; it found:\n{details or found}"
