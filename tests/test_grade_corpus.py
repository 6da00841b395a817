"""The bad-submission corpus, graded in one batch by ``python -m autograder grade``.

Every submission gets a row and a status, the batch finishes, the originals are not
modified, no cheat gains points, and honest students' grades are what they earn. The
notebooks are generated here from the chapter 1 solution (``nbgrader_e2e``).
"""
from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import REPO_ROOT
from autograder.grading.feedback import hidden_test_lines
from autograder.grading.sandbox import bwrap_path
from nbgrader_e2e import student_notebook

A, NB = "01-activations", "activations.ipynb"
FULL = 12
ALL = ["test_step", "test_step_derivative", "test_sigmoid", "test_sigmoid_derivative",
       "test_tanh", "test_tanh_derivative", "test_relu", "test_relu_derivative"]
STEP = "def step(x):"
SIGMOID = "def sigmoid(x):"
RELU_BUG = {"relu_solution": ("return (x > 0).to(x.dtype)", "return (x >= 0).to(x.dtype)")}
WRONG_STEP = "return (x > 0).to(x.dtype)\n\n\ndef step_derivative"


def before(code: str, anchor: str = STEP, cell: str = "step_solution") -> dict:
    """A bug that puts ``code`` in front of ``anchor`` in solution cell ``cell``."""
    return {cell: (anchor, code.strip() + "\n\n" + anchor)}


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)
    return path


def notebook(path: Path, *bug_sets: dict) -> Path:
    """The solution with each bug set applied in turn (text replacements in solution cells)."""
    student_notebook(A, NB, path)
    for bugs in bug_sets:
        nb = json.loads(path.read_text())
        for cell in nb["cells"]:
            gid = cell["metadata"].get("nbgrader", {}).get("grade_id")
            if gid in bugs:
                old, new = bugs[gid]
                text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
                assert old in text, (gid, old)
                cell["source"] = text.replace(old, new, 1)
        path.write_text(json.dumps(nb))
    return path


def cells_edit(path: Path, edit) -> Path:
    nb = json.loads(path.read_text())
    edit(nb)
    path.write_text(json.dumps(nb))
    return path


WRONG = {"step_solution": (WRONG_STEP, "return x * 0 + 7\n\n\ndef step_derivative")}


def build_corpus(subs: Path, out: Path) -> dict[str, tuple]:
    """Write the corpus under ``subs``; return ``{student: (status, total, lost tests or None)}``."""
    expect = {}

    def nb(student, *bugs, status="graded", total=FULL, lost=None):
        notebook(subs / student / NB, *bugs)
        expect[student] = (status, total, lost)

    nb("honest")
    nb("relu_bug", RELU_BUG, total=FULL - 1, lost={"test_relu_derivative"})
    write(subs / "invalid_json" / NB, '{"cells": [')
    expect["invalid_json"] = ("unreadable", 0, None)
    write(subs / "empty" / NB, "")
    expect["empty"] = ("unreadable", 0, None)
    write(subs / "not_a_notebook" / NB, json.dumps({"hello": "world"}))
    expect["not_a_notebook"] = ("unreadable", 0, None)
    notebook(subs / "wrong_name" / "my_activations_final.ipynb")
    expect["wrong_name"] = ("graded", FULL, set())
    write(subs / "missing" / "README.txt", "I forgot the notebook")
    expect["missing"] = ("missing notebook", 0, None)
    # LMS-style loose files: two hand-ins of one student, the later (-1) one is graded
    student_notebook(A, NB, subs / "dup_111_222_activations.ipynb", blank=True)
    notebook(subs / "dup_111_222_activations-1.ipynb")
    expect["dup"] = ("graded", FULL, set())
    other = json.loads((REPO_ROOT / "exercises" / A / NB).read_text())
    for cell in other["cells"]:
        cell["metadata"]["nbgrader"]["grade_id"] = "other_" + cell["metadata"]["nbgrader"]["grade_id"]
    write(subs / "other_assignment" / NB, json.dumps(other))
    expect["other_assignment"] = ("wrong assignment", 0, None)
    # runtime failures
    # the looping cell is interrupted after --cell-timeout; the cells after it are still graded
    nb("infinite_loop", before("while True:\n    pass"), status="timeout", total=FULL - 2,
       lost={"test_step", "test_step_derivative"})
    nb("os_exit", before("import os\nos._exit(1)", SIGMOID, "sigmoid_solution"), status="crashed", total=0)
    nb("segfault", before("import ctypes\nctypes.string_at(0)", SIGMOID, "sigmoid_solution"), status="crashed", total=0)
    nb("memory_blowup", before("hog = bytearray(64 * 1024 ** 3)", SIGMOID, "sigmoid_solution"), status="memory limit",
       total=FULL - 8, lost={"test_sigmoid", "test_sigmoid_derivative", "test_tanh", "test_tanh_derivative"})
    nb("huge_output", before("print('x' * 20_000_000)"))
    # a correct answer that writes to stderr and makes torch warn inside the test cell keeps full marks
    nb("stderr_and_warning", before("import sys\nprint('debug', file=sys.stderr)"),
       {"step_solution": ("return (x > 0).to(x.dtype)", "return torch.tensor((x > 0).to(x.dtype))")})
    # an honest notebook that makes an optimizer (that imports torch._dynamo, which re-wraps
    # torch.manual_seed after the guard's snapshot) keeps full marks
    nb("uses_an_optimizer", before("_opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)"))
    # cells deleted, edited, metadata stripped
    nb("deleted_test", total=FULL - 1, lost={"test_relu"})
    cells_edit(subs / "deleted_test" / NB, lambda n: n.update(cells=[c for c in n["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") != "test_relu"]))

    def edit_locked(n):
        for c in n["cells"]:
            if c["metadata"].get("nbgrader", {}).get("grade_id") == "test_step":
                c["source"] = "pass  # the test is gone"
    nb("edited_test", WRONG, total=FULL - 1, lost={"test_step"})
    cells_edit(subs / "edited_test" / NB, edit_locked)
    nb("stripped_metadata", status="metadata stripped", total=0)
    cells_edit(subs / "stripped_metadata" / NB, lambda n: [c["metadata"].clear() for c in n["cells"]])
    # cheats: each would pass test_step with a wrong step if it worked
    solutions_nb = REPO_ROOT / "solutions" / A / NB
    cheats = {
        "patch_assert_close": "import torch.testing\ntorch.testing.assert_close = lambda *a, **k: None\n"
                              "torch.allclose = lambda *a, **k: True\ntorch.equal = lambda *a, **k: True",
        "patch_checks_module": "import autograder.checks.api as _api\n_api.assert_tensor_matches = lambda *a, **k: None",
        "patch_code_object": "import autograder.checks.compare as _c\n_c.assert_tensor_matches.__code__ = (lambda *a, **k: None).__code__",
        "silence_tracebacks": "get_ipython().showtraceback = lambda *a, **k: None",
        "settrace": "import sys\nsys.settrace(lambda *a: None)",
    }
    for student, code in cheats.items():
        nb(student, before(code), WRONG, status="tampered", total=0)
    # rebinding the check's name in the notebook: the guard re-imports it, the wrong step fails
    nb("rebind_check", before("check_forward = lambda *a, **k: None\nch = None"), WRONG, total=FULL - 1, lost={"test_step"})

    class_eq = ("class AlwaysEqual:\n    def __eq__(self, other):\n        return True\n"
                "    def __bool__(self):\n        return True\n")
    nb("eq_always_true", before(class_eq), {"step_solution": ("return (x > 0).to(x.dtype)", "return AlwaysEqual()")},
       total=FULL - 1, lost={"test_step"})
    nb("alias_forbidden", before("_sig = torch.sigmoid", SIGMOID, "sigmoid_solution"),
       {"sigmoid_solution": ("z = torch.exp(-x.abs())", "return _sig(x)\n    z = torch.exp(-x.abs())")},
       total=FULL - 4, lost={"test_sigmoid", "test_sigmoid_derivative"})
    # step is right only when the grader cannot be detected
    nb("detect_grader", before("import os\nGRADING = 'NBGRADER_EXECUTION' in os.environ"),
       {"step_solution": ("return (x > 0).to(x.dtype)", "return (x > 0).to(x.dtype) + (7 if GRADING else 0)")})
    # step is right only if hidden tests or the gradebook can be read
    from autograder.grading.cli import _git_dirs

    peek = (f"import os\npaths = [{str(solutions_nb)!r}, *{[d + '/HEAD' for d in _git_dirs()]!r}, {str(out / 'course' / 'gradebook.db')!r}, "
            f"{str(out / 'course' / 'source' / A / NB)!r}]\nPEEKED = any(os.path.exists(p) for p in paths)")
    nb("read_hidden", before(peek), {"step_solution": ("return (x > 0).to(x.dtype)", "return (x > 0).to(x.dtype) + (0 if PEEKED else 7)")},
       total=FULL - 1, lost={"test_step"})
    vandal = (f"import os, glob\nfor p in glob.glob({str(subs) + '/**/*.ipynb'!r}, recursive=True) + "
              f"glob.glob({str(out) + '/**/*'!r}, recursive=True):\n"
              f"    try:\n        open(p, 'w').write('vandalised')\n    except OSError:\n        pass")
    nb("vandal", before(vandal))
    return expect


@pytest.mark.slow
def test_bad_submission_corpus_gets_a_row_and_the_right_status_each(tmp_path):
    assert bwrap_path(), "bubblewrap is needed for this test (scripts/system-packages.sh installs it)"
    subs, out = tmp_path / "submissions", tmp_path / "out"
    expect = build_corpus(subs, out)
    before_hashes = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in subs.rglob("*") if p.is_file()}
    cmd = [sys.executable, "-m", "autograder", "grade", str(subs), "--assignment", A, "--out", str(out),
           "--workers", "2", "--cell-timeout", "40", "--notebook-timeout", "400", "--memory-mb", "4096"]
    first = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT)
    assert first.returncode == 0, first.stdout + first.stderr
    rows = {r["student"]: r for r in csv.DictReader((out / "grades.csv").open())}

    assert set(rows) == set(expect)
    problems = []
    for student, (status, total, lost) in expect.items():
        row = rows[student]
        if row["status"] != status or float(row["total"]) != total:
            problems.append(f"{student}: got {row['status']} {row['total']}, expected {status} {total} ({row['note']})")
        if lost is not None:
            got_lost = {t for t in ALL if float(row[t]) == 0}
            if got_lost != lost:
                problems.append(f"{student}: lost {sorted(got_lost)}, expected {sorted(lost)}")
        assert float(row["total"]) <= float(row["max"]) == FULL
    assert not problems, "\n".join(problems)
    assert "2 files" in rows["dup"]["note"] and "wrong file name" in rows["wrong_name"]["note"]

    # the originals are untouched, and the gradebook holds the honest student's full marks
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in subs.rglob("*") if p.is_file()}
    assert after == before_hashes
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{out / 'course' / 'gradebook.db'}") as gb:
        assert gb.find_submission(A, "honest").score == FULL
        assert gb.find_submission(A, "relu_bug").score == FULL - 1

    exported = {r["student_id"]: r for r in csv.DictReader((out / "nbgrader-export.csv").open())}
    assert float(exported["honest"]["score"]) == FULL and float(exported["relu_bug"]["score"]) == FULL - 1

    # feedback: the failed test's message and hint, never a hidden test line
    secret = hidden_test_lines(json.loads((REPO_ROOT / "solutions" / A / NB).read_text()))
    import html

    for page in (out / "feedback").rglob("*.html"):
        text = html.unescape(page.read_text())
        assert not [line for line in secret if line in text], page
        assert page.stat().st_size < 1_000_000, page
    relu = html.unescape((out / "feedback" / "relu_bug" / "activations.html").read_text())
    assert "relu_derivative" in relu and "Hint: ReLU's derivative at exactly 0 is 0" in relu
    assert "BEGIN HIDDEN TESTS" not in relu
    summary = (out / "summary.html").read_text()
    assert "data:image/png;base64," in summary and "ReLU&#x27;s derivative at exactly 0" in summary

    # rerun: nothing regraded, same CSV
    csv_before = (out / "grades.csv").read_text()
    second = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT)
    assert second.returncode == 0, second.stderr
    assert " 0 to grade" in second.stderr
    assert (out / "grades.csv").read_text() == csv_before
