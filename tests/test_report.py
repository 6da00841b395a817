"""The class reports: ``grades.csv`` keeps its exact format, failures are grouped by hint
and counted in students, ``summary.html`` fits a 1280-px window with long hints (in a real
browser), its templates ship in a wheel, and one ``python -m autograder grade`` run writes
the similarity report and both LMS files (parsed back), and names a student missing from
the roster."""
from __future__ import annotations

import csv
import random
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder import REPO_ROOT
from autograder.grading.answer import Answer, Status
from autograder.grading.answer import TestResult as CellResult
from autograder.grading.report import common_failures, failure_key, summary_text, write_csv, write_summary

MAX = {"test_step": 1.0, "test_sigmoid": 2.0, "test_tanh": 1.5}
LONG_HINT = ("Hint: exp(-x) overflows to inf for x below about -88 in float32 and inf/inf is nan: compute exp of -|x| "
             "only, which is always in (0, 1], and pick the formula by the sign of x with torch.where; "
             "a_very_long_identifier_without_any_space_that_a_browser_cannot_break_by_itself_unless_told_to" * 2)


def failing(test: str, message: str) -> CellResult:
    return CellResult(test, score=0.0, max_score=MAX[test], message=message)


def answer(student: str, status: Status = Status.GRADED, **failed: str) -> Answer:
    if not status.ran:
        return Answer.not_run(student, status, "invalid JSON", MAX)
    return Answer(student, status, {g: failing(g, failed[g]) if g in failed else CellResult(g, passed=True, score=m, max_score=m)
                                    for g, m in MAX.items()})


def test_grades_csv_keeps_its_columns_order_and_g_format(tmp_path):
    answers = [answer("zoe"), answer("amy", test_tanh="boom"), answer("lee", Status.UNREADABLE)]
    answers[0].note = "graded a.ipynb as activations.ipynb, with a comma"
    write_csv(tmp_path / "grades.csv", answers, list(MAX))
    assert (tmp_path / "grades.csv").read_text() == (
        "student,status,test_step,test_sigmoid,test_tanh,total,max,note\n"
        "amy,graded,1,2,0,3,4.5,\n"
        "lee,unreadable,0,0,0,0,4.5,invalid JSON\n"
        'zoe,graded,1,2,1.5,4.5,4.5,"graded a.ipynb as activations.ipynb, with a comma"\n')


def test_failures_are_grouped_by_hint_and_counted_in_students_not_tests():
    hint = "CheckFailure: step(x) on cpu float32, shape (3,): got 1.0\nHint: use x > 0, not x >= 0."
    answers = [answer("amy", test_step=hint, test_sigmoid=hint.replace("step", "sigmoid"), test_tanh=hint),
               answer("bob", test_tanh=hint), answer("cat")]
    [group] = common_failures(answers, list(MAX))
    assert group.text == "Hint: use x > 0, not x >= 0."
    assert group.students == {"amy", "bob"}
    assert group.tests == ["test_step", "test_sigmoid", "test_tanh"]


def test_a_failure_without_hint_groups_by_its_first_line_with_numbers_masked():
    assert failure_key("CheckFailure: tanh(x) at index (1, 2): x=-1000.0, got nan\nmore") == \
        "CheckFailure: tanh(x) at index (#, #): x=#, got nan"
    answers = [answer("amy", test_tanh="tanh(x) at (1,): x=-1000.0, got nan"),
               answer("bob", test_tanh="tanh(x) at (4,): x=88.5, got nan")]
    assert [(g.text, len(g.students)) for g in common_failures(answers, list(MAX))] == [("tanh(x) at (#,): x=#, got nan", 2)]


def test_rows_whose_notebook_did_not_run_do_not_count_toward_failures():
    answers = [answer("lee", Status.UNREADABLE), answer("kim", Status.MISSING_NOTEBOOK), answer("amy", test_step="x")]
    assert all(t.message for t in answers[0].tests.values())
    assert [(g.text, g.students) for g in common_failures(answers, list(MAX))] == [("x", {"amy"})]


def test_summary_text_counts_statuses_and_pass_rates_of_notebooks_that_ran():
    text = summary_text([answer("amy"), answer("bob", test_step="x"), answer("lee", Status.UNREADABLE)], list(MAX))
    assert "graded               2" in text and "unreadable           1" in text
    assert "test_step                    1/2 (50%)" in text
    assert "mean total 2.67 / 4.5 over 3 students" in text


def big_class() -> list[Answer]:
    """308 students with long hints and every status, some flagged with long quoted lines."""
    rng = random.Random(1)
    hints = [LONG_HINT, "Hint: " + "convert with .to(x.dtype) so the result keeps the input's dtype; " * 6,
             "CheckFailure: sigmoid(x) on cuda:0 float64 shape (1000, 1000) worst at index (999, 998) " * 3]
    answers = []
    for i in range(308):
        status = rng.choices(list(Status), [60, 3, 3, 2, 2, 2, 1, 1, 2])[0]
        failed = {g: rng.choice(hints) for g in MAX if rng.random() < 0.4}
        a = answer(f"s{i:03d}" if i % 40 else f"student_{i:03d}_" + "x" * 60, status, **failed)
        if status is Status.FLAGGED:
            a.flags = ["cell relu_solution line 3: import ctypes; " + "ctypes.pythonapi.PyFrame_LocalsToFast(f, 0) " * 6]
        answers.append(a)
    return answers


def test_summary_html_has_tables_plots_failures_flags_and_the_similarity_link(tmp_path):
    from autograder.grading.similarity import Pair, SimilarityReport

    answers = big_class()
    sim = SimilarityReport("01-activations", 0.9, 300, [Pair("01-activations", "s001", "s002", 1.0, 0.96)],
                           tmp_path / "similarity.csv", tmp_path / "similarity.html")
    write_summary(tmp_path / "summary.html", "01-activations", answers, list(MAX), False, sim)
    page = (tmp_path / "summary.html").read_text()
    assert page.count("data:image/png;base64,") == 2
    assert "<th>status</th>" in page and "<th>test</th>" in page and "<pre>" not in page.split("Most common")[0]
    assert 'href="similarity.html"' in page and "<b>1</b> pair of students" in page
    assert "ctypes.pythonapi.PyFrame_LocalsToFast" in page and "Flagged by the static check" in page
    assert "WITHOUT a sandbox" in page
    top = common_failures(answers, list(MAX))[0]
    assert f'<td class="num">{len(top.students)}</td>' in page and len(top.students) <= len(answers)
    write_summary(tmp_path / "summary.html", "01-activations", answers, list(MAX), True, None)
    assert "--no-similarity" in (tmp_path / "summary.html").read_text()


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium")
def test_summary_html_fits_a_1280_px_window_with_long_hints(tmp_path):
    from playwright.sync_api import sync_playwright

    from autograder.grading.similarity import SimilarityReport

    sim = SimilarityReport("01-activations", 0.9, 308, [], tmp_path / "similarity.csv", tmp_path / "similarity.html")
    write_summary(tmp_path / "summary.html", "01-activations", big_class(), list(MAX), True, sim)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto((tmp_path / "summary.html").as_uri(), wait_until="load")
        widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        hint_box = page.locator("td", has_text="Hint: exp(-x) overflows").first.bounding_box()
        images = page.evaluate("[...document.images].map(i => [i.naturalWidth, i.getBoundingClientRect().right])")
        page.screenshot(path=str(tmp_path / "summary.png"), full_page=True)
        browser.close()
    assert widths[0] <= widths[1] <= 1280, f"horizontal scroll: {widths}"
    assert hint_box["x"] + hint_box["width"] <= 1280 and hint_box["height"] > 40, hint_box  # wrapped, not cut
    assert len(images) == 2 and all(w > 0 and right <= 1280 for w, right in images), images


def test_the_report_templates_ship_in_a_wheel(tmp_path):
    """Built from a clean copy of the tracked files (a stale egg-info would hide a missing
    package-data entry)."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "pyproject.toml", "autograder"],
                           cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        (tmp_path / "src" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_ROOT / name, tmp_path / "src" / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path / "wheel"), str(tmp_path / "src")], check=True, capture_output=True)
    [wheel] = (tmp_path / "wheel").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for template in ("base.html.j2", "summary.html.j2", "similarity.html.j2"):
        assert f"autograder/grading/templates/{template}" in names


@pytest.mark.slow
def test_grade_command_writes_similarity_and_both_lms_files_and_names_who_is_not_on_the_roster(tmp_path):
    """Five students graded by the command: bob copied alice (renamed, reordered), carol wrote
    her own in another style, dave handed in the exercise untouched, erin wrote her own with
    a ReLU bug and is not on the roster."""
    import similarity_corpus as sc
    from autograder.grading.sandbox import bwrap_path

    rng = random.Random(3)
    alice = sc.honest(rng, sc.TEXTBOOK)
    erin = sc.honest(rng, {"relu_derivative": "return (x >= 0).to(x.dtype)"})  # her own style, one bug
    cells = {"alice": alice, "bob": sc.copy_of(alice, rng), "carol": sc.honest(rng, sc.OTHER_STYLE), "dave": {}, "erin": erin}
    for name, c in cells.items():
        sc.notebook(c, tmp_path / "subs" / name / sc.NB)
    roster = tmp_path / "roster.csv"
    roster.write_text("identifier,name,email,lms_id\nalice,Alice A,a@x.example,11\nbob,Bob B,b@x.example,12\n"
                      "carol,Carol C,c@x.example,13\ndave,Dave D,d@x.example,14\n")
    expected = {"alice": "12", "bob": "12", "carol": "12", "dave": "0", "erin": "11"}
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "autograder", "grade", str(tmp_path / "subs"), "--assignment", sc.A, "--out", str(out),
           "--workers", "2", "--roster", str(roster), "--similarity-threshold", "0.9"]
    if bwrap_path() is None:
        cmd.append("--no-sandbox")
    runs = {kind: subprocess.run(cmd + ["--lms", kind], cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
            for kind in ("canvas", "moodle")}
    for kind, run in runs.items():
        assert run.returncode == 0, run.stderr
        assert "1 student(s) have no entry in" in run.stderr and "erin" in run.stderr.split("no entry in")[1], run.stderr

    with open(out / "grades.csv", newline="") as f:
        totals = {r["student"]: r["total"] for r in csv.DictReader(f)}
    assert totals == expected
    with open(out / "similarity.csv", newline="") as f:
        pairs = [(r["student_a"], r["student_b"]) for r in csv.DictReader(f)]
    assert pairs == [("alice", "bob")]
    assert 'href="similarity.html"' in (out / "summary.html").read_text()
    with open(out / "canvas-grades.csv", newline="") as f:
        canvas = list(csv.reader(f))
    assert canvas[1][0] == "Points Possible" and canvas[1][-1] == "12"
    assert {r[1]: r[-1] for r in canvas[2:]} == {"11": "12", "12": "12", "13": "12", "14": "0", "erin": "11"}
    with open(out / "moodle-grades.csv", newline="") as f:
        moodle = list(csv.DictReader(f))
    assert {r["ID number"]: r[sc.A] for r in moodle} == {"11": "12", "12": "12", "13": "12", "14": "0", "erin": "11"}
    assert len(moodle) == len(expected)
