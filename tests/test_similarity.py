"""The similarity report on generated chapter 1 submissions (``similarity_corpus``): a copy
is flagged with its source however it was renamed and reordered, honest different code
and the untouched exercise are not, the threshold cuts, reruns reuse their work, and the
report changes no score or status.

Each student's code is read back from a notebook with ``answer_sources``, as the grader
does, and the boilerplate is the released exercise's answer cells.
"""
from __future__ import annotations

import copy
import csv
import random
import re
from pathlib import Path

import pytest

import similarity_corpus as sc
from autograder import REPO_ROOT
from autograder.grading import similarity
from autograder.grading.answer import Answer, Status
from autograder.grading.answer import TestResult as CellResult
from autograder.grading.similarity import DEFAULT_THRESHOLD, find_similar
from autograder.notebook import answer_sources, read

SOURCE = read(REPO_ROOT / "solutions" / sc.A / sc.NB)


@pytest.fixture(scope="module")
def boilerplate() -> str:
    return "\n\n".join(answer_sources(read(REPO_ROOT / "exercises" / sc.A / sc.NB), SOURCE))


def code_of(cells: dict[str, str], tmp: Path, name: str) -> str:
    """The student's answer code as the grader extracts it from their notebook."""
    path = sc.notebook(cells, tmp / "subs" / name / sc.NB)
    return "\n\n".join(answer_sources(read(path), SOURCE))


@pytest.fixture
def klass(tmp_path) -> dict[str, str]:
    """Four honest students, bob who copied s1 (every variable renamed, functions swapped),
    and two students who handed in the exercise untouched."""
    rng = random.Random(11)
    cells = {f"s{i}": sc.honest(rng) for i in range(4)}
    cells["bob"] = sc.copy_of(cells["s1"], rng)
    cells["blank"] = cells["blank2"] = {}
    return {name: code_of(c, tmp_path, name) for name, c in cells.items()}


def flagged(report) -> set[frozenset]:
    return {frozenset((p.student_a, p.student_b)) for p in report.pairs}


def test_a_copy_with_every_variable_renamed_and_functions_reordered_is_flagged_with_its_source(tmp_path, klass, boilerplate):
    assert "def tanh_derivative" in klass["bob"].split("def tanh(")[0], "the copy does reorder the functions"
    names = set(re.findall(r"\b(?:val|arr|inp|tmp|q|w)\d\b", klass["bob"]))
    assert names and not names & set(re.findall(r"\b\w+\b", klass["s1"])), "the copy does rename its variables"
    report = find_similar(tmp_path / "out", sc.A, klass, boilerplate)
    assert frozenset(("bob", "s1")) in flagged(report)
    pair = next(p for p in report.pairs if {p.student_a, p.student_b} == {"bob", "s1"})
    assert min(pair.share_a, pair.share_b) >= DEFAULT_THRESHOLD, pair


def test_two_independent_solutions_in_different_styles_are_not_flagged(tmp_path, boilerplate):
    rng = random.Random(0)
    codes = {"textbook": code_of(sc.honest(rng, sc.TEXTBOOK), tmp_path, "textbook"),
             "other": code_of(sc.honest(rng, sc.OTHER_STYLE), tmp_path, "other")}
    report = find_similar(tmp_path / "out", sc.A, codes, boilerplate)
    assert report.pairs == []
    shares = similarity.all_shares(tmp_path / "out", codes, boilerplate)
    assert max(shares[("other", "textbook")]) < 0.5, shares


def test_the_untouched_exercise_is_flagged_against_no_one(tmp_path, klass, boilerplate):
    report = find_similar(tmp_path / "out", sc.A, klass, boilerplate, threshold=0.01)
    assert report.pairs, "a low threshold flags honest pairs: the check below checks something"
    assert not {s for p in report.pairs for s in (p.student_a, p.student_b)} & {"blank", "blank2"}


def test_a_threshold_above_the_copys_score_flags_nothing(tmp_path, boilerplate):
    rng = random.Random(5)
    source = sc.honest(rng, sc.TEXTBOOK)
    edited = sc.copy_of(source, rng)
    edited["relu_solution"] = sc.honest(rng, {"relu": sc.OTHER_STYLE["relu"]})["relu_solution"]  # one function rewritten
    codes = {"source": code_of(source, tmp_path, "source"), "copier": code_of(edited, tmp_path, "copier")}
    low = find_similar(tmp_path / "out", sc.A, codes, boilerplate, threshold=0.5)
    assert len(low.pairs) == 1
    score = low.pairs[0].score
    assert 0.5 <= score < 1
    assert find_similar(tmp_path / "out", sc.A, codes, boilerplate, threshold=score).pairs == low.pairs
    above = find_similar(tmp_path / "out", sc.A, codes, boilerplate, threshold=score + 0.001)
    assert above.pairs == []
    with open(above.csv_path, newline="") as f:
        assert list(csv.reader(f)) == [["assignment", "student_a", "student_b", "share_a", "share_b"]]


def test_csv_has_one_row_per_flagged_pair_with_both_shares(tmp_path, klass, boilerplate):
    report = find_similar(tmp_path / "out", sc.A, klass, boilerplate, threshold=0.3)
    with open(tmp_path / "out" / "similarity.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(report.pairs) > 1
    for row, pair in zip(rows, report.pairs):
        assert row == {"assignment": sc.A, "student_a": pair.student_a, "student_b": pair.student_b,
                       "share_a": f"{pair.share_a:.3f}", "share_b": f"{pair.share_b:.3f}"}
    scores = [max(float(r["share_a"]), float(r["share_b"])) for r in rows]
    assert scores == sorted(scores, reverse=True)


def test_html_shows_pairs_highest_first_side_by_side_with_the_shared_code_marked(tmp_path, klass, boilerplate):
    report = find_similar(tmp_path / "out", sc.A, klass, boilerplate, threshold=0.3)
    page = (tmp_path / "out" / "similarity.html").read_text()
    ids = re.findall(r'<section class="pair" id="([^"]+)"', page)
    assert ids == [f"{p.student_a}--{p.student_b}" for p in report.pairs]
    first = page.split('<section class="pair"')[1]
    sides = first.split('<div class="side">')[1:]
    assert len(sides) == 2 and all("<mark>" in side for side in sides)
    assert "not a verdict" in page
    # The released docstrings are never marked as shared code, even inside a shared run.
    released = next(line.strip() for line in boilerplate.splitlines() if line.strip().startswith('"""Step function'))
    s1_side = next(s for s in page.split('<div class="side">')[1:] if s.startswith("<h3>s1</h3>"))
    marked = " ".join(re.findall(r"<mark>(.*?)</mark>", s1_side, re.S))
    assert "return" in marked and "Step function: 1.0 where" not in marked, released


def test_reruns_compare_only_pairs_whose_code_changed(tmp_path, klass, boilerplate, monkeypatch):
    out = tmp_path / "out"
    first = find_similar(out, sc.A, klass, boilerplate)
    calls = []
    real = similarity._shares
    monkeypatch.setattr(similarity, "_shares", lambda fa, fb: calls.append(1) or real(fa, fb))
    assert find_similar(out, sc.A, klass, boilerplate).pairs == first.pairs
    assert calls == []
    changed = dict(klass, s0=klass["s0"] + "\n\ndef helper(v):\n    return v * 2 + 1\n")
    find_similar(out, sc.A, changed, boilerplate)
    assert len(calls) == len(set(klass.values())) - 1  # s0 against each other code (the two blanks are one)
    calls.clear()
    find_similar(out, sc.A, changed, boilerplate + "\n# another release")
    assert len(calls) > len(klass), "a new boilerplate recomputes"


def test_similarity_changes_no_score_and_no_status(tmp_path, klass, boilerplate):
    from autograder.grading.options import ReportOptions
    from autograder.grading.report import finish_reports

    grade_ids = list(SOURCE_SCORES)
    answers = [Answer(s, Status.GRADED, {g: CellResult(g, passed=True, score=m, max_score=m) for g, m in SOURCE_SCORES.items()}) for s in klass]
    before = copy.deepcopy(answers)
    on, off = tmp_path / "on", tmp_path / "off"
    on.mkdir(), off.mkdir()
    finish_reports(ReportOptions(similarity_threshold=0.3), on, sc.A,
                   answers, grade_ids, klass, boilerplate, True)
    assert (on / "similarity.csv").read_text().count("\n") > 1
    assert answers == before
    finish_reports(ReportOptions(similarity=False, similarity_threshold=0.3), off, sc.A,
                   answers, grade_ids, klass, boilerplate, True)
    assert not (off / "similarity.csv").exists()
    assert (on / "grades.csv").read_text() == (off / "grades.csv").read_text()


SOURCE_SCORES = {"test_step": 1.0, "test_sigmoid": 2.0, "test_tanh": 2.0, "test_relu": 1.0}


def test_a_failing_similarity_report_still_leaves_grades_and_summary(tmp_path, klass, boilerplate, monkeypatch, capsys):
    from autograder.grading.options import ReportOptions
    from autograder.grading.report import finish_reports

    def broken(*args, **kwargs):
        raise RuntimeError("tokenizer exploded")

    monkeypatch.setattr(similarity, "find_similar", broken)
    answers = [Answer(s, Status.GRADED, {g: CellResult(g, passed=True, score=m, max_score=m) for g, m in SOURCE_SCORES.items()}) for s in klass]
    finish_reports(ReportOptions(similarity_threshold=0.9), tmp_path, sc.A,
                   answers, list(SOURCE_SCORES), klass, boilerplate, True)
    assert (tmp_path / "grades.csv").read_text().count("\n") == len(klass) + 1
    assert "The similarity report failed: RuntimeError: tokenizer exploded" in (tmp_path / "summary.html").read_text()
    assert "similarity report failed" in capsys.readouterr().err
