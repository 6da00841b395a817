"""No shortcut scores silently (issue 17): the shortcut corpus (``tests/corpus/shortcuts.py``).

Each attempt is first shown to be a working shortcut: run here, in a forked child, with
every operator allowed, it passes the tests it attacks. Graded by ``python -m autograder
grade`` (each assignment's hand-ins in one batch, shared with the other corpora), it must
then lose those tests or make its row ``flagged``; it never scores them with status
``graded``. A failure names the attempt, what it targets, and what it got.
"""
from __future__ import annotations

import pytest

from corpus import local
from corpus.shortcuts import ATTEMPTS, KINDS
from nbgrader_e2e import needs_sandbox


def test_every_class_of_the_issue_has_an_attempt_and_each_names_real_test_cells():
    names = [a.name for a in ATTEMPTS]
    assert len(names) == len(set(names)), "two attempts share a name"
    assert {a.kind for a in ATTEMPTS} == set(KINDS)
    for attempt in ATTEMPTS:
        cells = set(local.test_sources(attempt.assignment))
        assert attempt.lose <= cells and attempt.works <= cells, attempt.name


@pytest.mark.slow
@pytest.mark.parametrize("attempt", ATTEMPTS, ids=lambda a: a.name)
def test_attempt_is_a_working_shortcut_when_nobody_watches(attempt, tmp_path):
    path = attempt.build(tmp_path)

    def run() -> dict[str, str]:
        results = local.run_cells(attempt.assignment, local.notebook_code(path, attempt.assignment),
                                  sorted(attempt.works), allow_all=True, secret=17)
        return {gid: message for gid, (passed, message) in results.items() if not passed}

    failed = local.in_child(run, timeout=240)
    assert failed == {}, (f"{attempt.name} ({attempt.targets}) should pass {sorted(attempt.works)} when every "
                          f"operator is allowed (else losing them in grading proves nothing); it failed: {failed}")


@pytest.mark.slow
@needs_sandbox
@pytest.mark.parametrize("attempt", ATTEMPTS, ids=lambda a: a.name)
def test_shortcut_loses_its_tests_or_is_flagged(attempt, corpus_grades):
    row = corpus_grades.graded(attempt.assignment)[attempt.name]
    scored = sorted(gid for gid in attempt.lose if row.scores[gid].score > 0)
    assert row.status == "flagged" or not scored, (
        f"{attempt.name} [{attempt.kind}: {attempt.targets}] scored silently: status {row.status!r}"
        + (f" ({row.note})" if row.note else "") + f", points kept on {scored}; expected it to lose "
        f"{sorted(attempt.lose)} or be flagged")
