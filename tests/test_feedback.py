"""The feedback page a student reads: the graded notebook is always there (hidden test lines
removed, never the whole notebook), each failed test says what raised, and the page links
each failure to its cell. Fast: pages rendered from notebooks built here, no grading."""
from __future__ import annotations


import nbformat
import pytest

from autograder import REPO_ROOT
from autograder import notebook as nbfacts
from autograder.grading.answer import Status
from autograder.grading.answer import TestResult as Result
from autograder.grading.feedback import REDACTED, LeakError, cells_as_graded, render
from autograder.release import assignments
from nbgrader_e2e import feedback_page, student_notebook

HIDDEN = "check_forward(step, ch.step_reference, name='step', hints=ch.HINTS['step'])"


def _cell(kind, gid, source, **meta):
    cell = nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)
    cell.metadata["nbgrader"] = {"grade_id": gid, "locked": True, "solution": False, "grade": False, **meta}
    return cell


def _source_nb():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        _cell("markdown", "intro", "# Step"),
        _cell("code", "step_solution", "def step(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION",
              solution=True, locked=False),
        _cell("code", "test_step", f"assert step(1) == 1\n### BEGIN HIDDEN TESTS\n{HIDDEN}\n### END HIDDEN TESTS",
              grade=True, points=1),
        _cell("code", "test_other", "assert True", grade=True, points=1),
    ]
    return nb


def _graded_nb(error_type: str, message: str):
    nb = _source_nb()
    nb.cells[1].source = "def step(x):\n    return x[3]"
    nb.cells[2].source = nbfacts.source(nb.cells[2])  # restored with its hidden tests, as nbgrader runs it
    nb.cells[2].outputs = [nbformat.v4.new_output("error", ename=error_type, evalue=message,
                                                  traceback=[f"{error_type}: {message}"])]
    return nb


def _page(tmp_path, error_type, message, note=""):
    tests = {"test_step": Result("test_step", score=0.0, max_score=1.0, message=message),
             "test_other": Result("test_other", passed=True, score=1.0, max_score=1.0)}
    html = render("amy", "01-activations", "activations", _graded_nb(error_type, message), Status.GRADED, note, tests,
                  _source_nb())
    (tmp_path / "feedback" / "amy").mkdir(parents=True)
    (tmp_path / "feedback" / "amy" / "activations.html").write_text(html)
    return feedback_page(tmp_path, "amy", "activations.ipynb")


def test_a_students_own_error_is_shown_with_its_type_and_the_notebook_with_it(tmp_path):
    page = _page(tmp_path, "IndexError", "index 3 is out of bounds\n(raised by your step)\n(raised by step on cpu, "
                                         "float32, shape (3,), example)")
    assert page.failures["test_step"].startswith("IndexError: index 3 is out of bounds")
    assert page.notebook_shown and {"cell-test_step", "cell-test_other"} <= set(page.cells)
    assert "return x[3]" in page.text and HIDDEN not in page.text


def test_a_message_that_names_its_error_type_is_not_prefixed_again(tmp_path):
    page = _page(tmp_path, "IndexError", "your step raised IndexError: index 3 is out of bounds\n(raised by step on cpu)")
    assert page.failures["test_step"].startswith("your step raised IndexError: index 3")


def test_a_checks_own_message_is_shown_as_it_is(tmp_path):
    page = _page(tmp_path, "CheckFailure", "step returned its result with dtype torch.bool on cpu; expected float32.")
    assert page.failures["test_step"].startswith("step returned its result with dtype torch.bool")


def test_a_message_that_repeats_a_hidden_line_is_redacted_and_the_notebook_stays(tmp_path):
    # before: the leak check read the raw message, raised LeakError, and the page lost the notebook
    page = _page(tmp_path, "AssertionError", f"the failing line was\n{HIDDEN}", note=HIDDEN)
    assert page.notebook_shown and REDACTED in page.failures["test_step"]
    assert HIDDEN not in [line.strip() for line in page.text.splitlines()]


def test_a_page_that_would_still_show_a_hidden_line_is_refused():
    source = _source_nb()
    graded = _graded_nb("CheckFailure", "x")
    graded.cells.append(nbformat.v4.new_raw_cell(HIDDEN))  # a raw cell is not shown...
    cells = cells_as_graded(graded, source)
    assert all(HIDDEN not in c.source for c in cells)
    from autograder.grading import feedback

    original = feedback._redact
    try:  # ...and if redaction ever failed, the page refuses to render rather than leak
        feedback._redact = lambda text, secret: text
        with pytest.raises(LeakError):
            render("amy", "a", "activations", graded, Status.GRADED, HIDDEN, {}, source)
    finally:
        feedback._redact = original


@pytest.mark.parametrize("assignment", assignments())
def test_every_assignment_shows_the_graded_notebook_with_no_hidden_line(assignment, tmp_path):
    """The released notebook filled in, as it comes back graded (test cells restored with their
    hidden tests): its page shows every answer and test cell, and no hidden-test line."""
    [path] = sorted((REPO_ROOT / "solutions" / assignment).glob("*.ipynb"))
    source = nbfacts.read(path)
    graded = nbfacts.read(student_notebook(assignment, path.name, tmp_path / path.name))
    tests_src = nbfacts.test_cells(source)
    for cell in graded.cells:
        if nbfacts.grade_id(cell) in tests_src:
            cell.source = nbfacts.source(tests_src[nbfacts.grade_id(cell)])
    results = {g: Result(g, score=0.0, max_score=m, message="AssertionError") for g, m in nbfacts.max_scores(source).items()}
    html = render("amy", assignment, path.stem, graded, Status.GRADED, "", results, source)
    (tmp_path / "feedback" / "amy").mkdir(parents=True)
    (tmp_path / "feedback" / "amy" / f"{path.stem}.html").write_text(html)
    page = feedback_page(tmp_path, "amy", path.name)
    assert page.notebook_shown and {f"cell-{g}" for g in tests_src} <= set(page.cells)
    secret = nbfacts.hidden_test_lines(source)  # a line of the page equal to one of them is a leak
    assert secret and not [line for line in page.text.splitlines() if line.strip() in secret]
    answers = [nbfacts.source(c) for c in graded.cells if nbfacts.kind(c) is nbfacts.CellKind.ANSWER]
    assert answers and all(a.strip().splitlines()[0] in page.text for a in answers)
