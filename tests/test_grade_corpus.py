"""The bad-submission and attack corpus, graded in one batch by ``python -m autograder grade``.

Every submission gets a row and a status, the batch finishes, the originals are not
modified, honest students get what they earn, and no attack gains a point: each class
of attack the old in-kernel guard lost to (issue 11) has entries here, written as a
student who has read the grader's source would write them. Notebooks are generated
from the chapter 1 exercise and solution (``nbgrader_e2e``).
"""
from __future__ import annotations

import csv
import hashlib
import html
import json
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import REPO_ROOT
from autograder import notebook as nbfacts
from nbgrader_e2e import add_cell, needs_sandbox, student_notebook

A, NB = "01-activations", "activations.ipynb"
FULL = 12
POINTS = {"test_step": 1, "test_step_derivative": 1, "test_sigmoid": 2, "test_sigmoid_derivative": 2,
          "test_tanh": 2, "test_tanh_derivative": 2, "test_relu": 1, "test_relu_derivative": 1}
STEP, SIGMOID = "def step(x):", "def sigmoid(x):"
SIGMOID_BODY = ("z = torch.exp(-x.abs())          # in (0, 1]: never overflows\n"
                "    return torch.where(x >= 0, 1 / (1 + z), z / (1 + z))")
SIGMOID_TESTS = {"test_sigmoid", "test_sigmoid_derivative", "test_tanh", "test_tanh_derivative"}  # tanh uses sigmoid


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)
    return path


def edit_cells(path: Path, edits: dict[str, tuple[str, str]]) -> None:
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        gid = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if gid in edits:
            old, new = edits[gid]
            text = nbfacts.source(cell)
            assert old in text, (gid, old)
            cell["source"] = text.replace(old, new, 1)
    path.write_text(json.dumps(nb))


def put_before(anchor: str, cell: str, code: str) -> dict:
    return {cell: (anchor, code.strip() + "\n\n\n" + anchor)}


# --------------------------------------------------------------------------- attacks
# Pass-signal forging: print what a passing test prints and silence the test's error.
FORGE = {
    "forge_custom_exc": "ip = get_ipython()\nip.set_custom_exc((BaseException,), lambda *a, **k: print('OK: step matches torch'))",
    "forge_ast_transformer": (
        "import ast\n"
        "class Swallow(ast.NodeTransformer):\n"
        "    def visit_Module(self, node):\n"
        "        handler = ast.ExceptHandler(type=ast.Name('BaseException', ast.Load()), name=None, body=[ast.Pass()])\n"
        "        node.body = [ast.Try(body=node.body or [ast.Pass()], handlers=[handler], orelse=[], finalbody=[])]\n"
        "        return ast.fix_missing_locations(node)\n"
        "get_ipython().ast_transformers.append(Swallow())"),
    "forge_input_transformer": ("get_ipython().input_transformers_post.append(\n"
                                "    lambda lines: ['try:\\n'] + ['    ' + l for l in lines] + ['\\nexcept BaseException:\\n    pass\\n'])"),
    "forge_post_run_hook": ("def fix(result):\n    result.error_in_exec = None\n    result.error_before_exec = None\n"
                            "get_ipython().events.register('post_run_cell', fix)"),
    "forge_audit_hook": ("import sys, bdb\n"
                         "def hook(event, args):\n"
                         "    if event == 'exec':\n"
                         "        print('OK: every test passed')\n"
                         "sys.addaudithook(hook)"),
}
# Tampering with the grader's code where it runs in the kernel.
TAMPER = {
    "tamper_server_claims_success": (
        "import autograder_kernel.server as srv\n"
        "def call(self, request, tensors):\n"
        "    return {'value': None, 'after': [], 'ops': [], 'autograd': [], 'intact': True, 'seconds': 0.0}\n"
        "srv._Session.call = call"),
    "tamper_fake_referee_names": "class CheckFailure(Exception):\n    pass\ncheck_forward = lambda *a, **k: None\nch = None",
}


def read_expected_from_stack() -> str:
    return ("import sys\n    f = sys._getframe(1)\n    while f is not None:\n"
            "        for name in ('expected', 'want', 'y_ref'):\n"
            "            if name in f.f_locals:\n                return f.f_locals[name]\n"
            "        f = f.f_back\n    return x * 0 + 7")


# Library operators, hidden from the recording or by another name (on the solution: only the
# attacked functions' tests may be lost).
SHORTCUTS = {
    "shortcut_disable_modes": "from torch.utils._python_dispatch import _disable_current_modes\n"
                              "    with _disable_current_modes():\n        return torch.sigmoid(x)\n",
    "shortcut_disable_dispatch": "with torch._C._DisableTorchDispatch():\n        return torch.sigmoid(x)\n",
    "shortcut_clear_the_record": ("y = torch.sigmoid(x)\n    import gc\n"
                                  "    for o in gc.get_objects():\n"
                                  "        if type(o).__name__ == 'Recording':\n            o.ops.clear()\n    return y\n"),
    "shortcut_in_place": "return x.clone().sigmoid_()\n",
    "shortcut_glu": "return torch.nn.functional.glu(torch.stack([torch.ones_like(x), x]), 0)[0]\n",
    "shortcut_logaddexp2": "return torch.exp2(-torch.logaddexp2(torch.zeros_like(x), -x / 0.6931471805599453))\n",
    "shortcut_masked_softmax": ("return torch._masked_softmax(torch.stack([x, torch.zeros_like(x)]),\n"
                                "        torch.zeros((2, *x.shape), dtype=torch.bool, device=x.device), 0)[0]\n"),
}
#: The shortcuts whose code the static check cannot read (private internals, other modules).
SHORTCUTS_FLAGGED = {"shortcut_disable_modes", "shortcut_disable_dispatch", "shortcut_clear_the_record",
                     "shortcut_masked_softmax"}
# A table of torch's answers on the fixed values the checks use, and the unstable formula elsewhere.
TABLE = (
    "FIXED = [-1000.0, -100.0, -89.0, -88.0, -20.0, -1.0, -1e-8, 0.0, 1e-8, 1.0, 20.0, 88.0, 89.0, 100.0, 1000.0]\n"
    "TABLE = {(v, d): torch.sigmoid(torch.tensor(v, dtype=d)).item() for v in FIXED for d in (torch.float32, torch.float64)}\n"
)
TABLE_SIGMOID = ("out = torch.exp(x) / (1 + torch.exp(x))\n"
                 "    for i, v in enumerate(x.reshape(-1).tolist()):\n"
                 "        if (v, x.dtype) in TABLE:\n"
                 "            out.reshape(-1)[i] = TABLE[(v, x.dtype)]\n"
                 "    return out\n")


def build_corpus(subs: Path, out: Path, sentinel: Path) -> dict[str, tuple]:
    """Write the corpus under ``subs``; return ``{student: (status, total, lost tests or None)}``."""
    expect: dict[str, tuple] = {}
    solution = lambda s: student_notebook(A, NB, subs / s / NB)  # noqa: E731
    blank = lambda s: student_notebook(A, NB, subs / s / NB, blank=True)  # noqa: E731

    def want(student, status, total, lost=None):
        expect[student] = (status, total, lost)

    # honest students, and the baseline an attack must not beat
    solution("honest")
    want("honest", "graded", FULL, set())
    blank("empty")
    want("empty", "graded", 0)
    edit_cells(solution("relu_bug"), {"relu_solution": ("return (x > 0).to(x.dtype)", "return (x >= 0).to(x.dtype)")})
    want("relu_bug", "graded", FULL - 1, {"test_relu_derivative"})
    add_cell(solution("honest_float64_and_seed"), "torch.set_default_dtype(torch.float64)\ntorch.manual_seed(0)")
    want("honest_float64_and_seed", "graded", FULL, set())
    add_cell(solution("uses_an_optimizer"), "opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)")
    want("uses_an_optimizer", "graded", FULL, set())
    add_cell(solution("stderr_and_warning"), "import sys, warnings\nprint('debug', file=sys.stderr)\nwarnings.warn('hm')")
    want("stderr_and_warning", "graded", FULL, set())

    # files that cannot be graded, and odd hand-ins
    write(subs / "invalid_json" / NB, '{"cells": [')
    want("invalid_json", "unreadable", 0)
    write(subs / "empty_file" / NB, "")
    want("empty_file", "unreadable", 0)
    write(subs / "not_a_notebook" / NB, json.dumps({"hello": "world"}))
    want("not_a_notebook", "unreadable", 0)
    student_notebook(A, NB, subs / "wrong_name" / "my_activations_final.ipynb")
    want("wrong_name", "graded", FULL, set())
    write(subs / "missing" / "README.txt", "I forgot the notebook")
    want("missing", "missing notebook", 0)
    student_notebook(A, NB, subs / "dup_111_222_activations.ipynb", blank=True)
    student_notebook(A, NB, subs / "dup_111_222_activations-1.ipynb")
    want("dup", "graded", FULL, set())
    other = json.loads((REPO_ROOT / "exercises" / A / NB).read_text())
    for cell in other["cells"]:
        cell["metadata"]["nbgrader"]["grade_id"] = "other_" + cell["metadata"]["nbgrader"]["grade_id"]
    write(subs / "other_assignment" / NB, json.dumps(other))
    want("other_assignment", "wrong assignment", 0)
    stripped = json.loads(solution("stripped_metadata").read_text())
    for cell in stripped["cells"]:
        cell["metadata"].clear()
    write(subs / "stripped_metadata" / NB, json.dumps(stripped))
    want("stripped_metadata", "metadata stripped", 0)
    deleted = json.loads(solution("deleted_test").read_text())
    deleted["cells"] = [c for c in deleted["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") != "test_relu"]
    write(subs / "deleted_test" / NB, json.dumps(deleted))
    want("deleted_test", "graded", FULL - 1, {"test_relu"})
    path = solution("edited_test")  # a test cell's source replaced: the referee runs the source notebook's
    edit_cells(path, {"step_solution": ("return (x > 0).to(x.dtype)", "return x * 0 + 7")})
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "test_step":
            cell["source"] = "pass  # the test is gone"
            cell["metadata"]["nbgrader"]["solution"] = True  # and its metadata says it is an answer
    path.write_text(json.dumps(nb))
    want("edited_test", "graded", FULL - 1, {"test_step"})

    # runtime failures: each gets a row and a status; earned points before a crash are kept
    edit_cells(solution("infinite_loop"), put_before(STEP, "step_solution", "while True:\n    pass"))
    want("infinite_loop", "timeout", FULL - 2, {"test_step", "test_step_derivative"})
    edit_cells(solution("os_exit"), put_before(SIGMOID, "sigmoid_solution", "import os\nos._exit(1)"))
    want("os_exit", "crashed", 2)
    edit_cells(solution("segfault"), put_before(SIGMOID, "sigmoid_solution", "import ctypes\nctypes.string_at(0)"))
    want("segfault", "crashed", 2)
    edit_cells(solution("memory_blowup"), put_before(SIGMOID, "sigmoid_solution", "hog = bytearray(64 * 1024 ** 3)"))
    want("memory_blowup", "memory limit", FULL - 8, SIGMOID_TESTS)
    add_cell(solution("huge_output"), "print('x' * 20_000_000)")
    want("huge_output", "graded", FULL, set())
    fill = ("import itertools, os\n"
            "for i in itertools.count():\n"
            "    for folder in ('/tmp', os.path.expanduser('~'), '/dev/shm', '.'):\n"
            "        try:\n"
            "            with open(f'{folder}/fill{i}', 'wb') as f:\n"
            "                f.write(b'x' * (1 << 24))\n"
            "        except OSError:\n"
            "            pass")
    add_cell(solution("fills_its_folders"), fill)
    want("fills_its_folders", "timeout", FULL)
    bomb = ("import os\n"
            "for _ in range(20000):\n"
            "    try:\n"
            "        if os.fork() == 0:\n"
            "            while True:\n"
            "                pass\n"
            "    except OSError:\n"
            "        pass")
    add_cell(solution("fork_bomb"), bomb)
    want("fork_bomb", "flagged", FULL, set())  # `import os`: a module outside the list

    # attacks that would pass tests without implementing anything: on the blank exercise
    for name, code in {**FORGE, **TAMPER}.items():
        add_cell(blank(name), code)
        # flagged where the code reaches IPython, other modules or the grader's; names alone are plain code
        want(name, "graded" if name == "tamper_fake_referee_names" else "flagged", 0)
    stack = blank("expected_from_the_stack")
    edit_cells(stack, {"step_solution": ("# YOUR CODE HERE\n    raise NotImplementedError()", read_expected_from_stack())})
    want("expected_from_the_stack", "flagged", 0)  # sys._getframe
    package = blank("answers_from_the_package")
    add_cell(package, "from autograder.chapters import activations as ch\nimport torch\n"
                      "step_answer = ch.step_reference\nsigmoid_answer = torch.sigmoid")
    # the course's package is not in the sandbox: the import fails there, nothing to flag
    want("answers_from_the_package", "graded", 0)

    # shortcuts on the solution: the attacked function's tests are lost, nothing else changes
    for name, body in SHORTCUTS.items():
        edit_cells(solution(name), {"sigmoid_solution": (SIGMOID_BODY, body.rstrip("\n"))})
        # flagged where they reach torch's private internals or another module; the rest are
        # torch operators the recording refuses: the tests are lost, nothing to review
        want(name, "flagged" if name in SHORTCUTS_FLAGGED else "graded", FULL - 8, SIGMOID_TESTS)
    table = solution("table_of_fixed_answers")
    add_cell(table, TABLE, before="sigmoid_solution")
    edit_cells(table, {"sigmoid_solution": (SIGMOID_BODY, TABLE_SIGMOID.rstrip("\n"))})
    want("table_of_fixed_answers", "graded", FULL - 8, SIGMOID_TESTS)

    # the sandbox: nothing of the repository, other checkouts or the output to read or write
    solutions_nb = REPO_ROOT / "solutions" / A / NB
    peek = (f"import glob, os\n"
            f"paths = [{str(solutions_nb)!r}, {str(out / 'course' / 'gradebook.db')!r}, {str(REPO_ROOT / '.git')!r}]\n"
            f"paths += glob.glob('/work/*/solutions') + glob.glob('/tmp/*/solutions') + glob.glob('/root/*')\n"
            f"PEEKED = any(os.path.exists(p) for p in paths)")
    path = solution("read_hidden")
    add_cell(path, peek)
    edit_cells(path, {"step_solution": ("return (x > 0).to(x.dtype)", "return (x > 0).to(x.dtype) + (0 if PEEKED else 7)")})
    want("read_hidden", "flagged", FULL - 1, {"test_step"})
    vandal = (f"import glob, os\n"
              f"for p in glob.glob({str(subs) + '/**/*.ipynb'!r}, recursive=True) + glob.glob({str(out) + '/**/*'!r}, recursive=True):\n"
              f"    try:\n        open(p, 'w').write('vandalised')\n    except OSError:\n        pass")
    add_cell(solution("vandal"), vandal)
    want("vandal", "flagged", FULL, set())
    links = (f"import os, glob\n"
             f"for sock in glob.glob('/run/autograder-kernel/ipc/kernel-*'):  # the kernel's own sockets, swapped\n"
             f"    try:\n"
             f"        os.unlink(sock)\n"
             f"        os.symlink({str(sentinel)!r}, sock)\n"
             f"    except OSError:\n"
             f"        pass\n"
             f"for folder in ('.', '/tmp', '/dev/shm', os.path.expanduser('~'), '/run/autograder-kernel/ipc'):\n"
             f"    for name in ('kernel-1', 'kernel-2', 'activations.ipynb', 'out', 'fill'):\n"
             f"        for target in ({str(sentinel)!r}, {str(out / 'grades.csv')!r}, {str(out / 'course')!r}):\n"
             f"            try:\n"
             f"                os.symlink(target, f'{{folder}}/{{name}}-{{abs(hash(target))}}')\n"
             f"            except OSError:\n"
             f"                pass")
    add_cell(solution("symlinks"), links)
    want("symlinks", "flagged", FULL, set())
    return expect


@pytest.mark.slow
@needs_sandbox
def test_every_submission_gets_its_row_and_no_attack_gains_a_point(tmp_path):
    subs, out, sentinel = tmp_path / "submissions", tmp_path / "out", tmp_path / "sentinel" / "target"
    sentinel.parent.mkdir()
    expect = build_corpus(subs, out, sentinel)
    originals = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in subs.rglob("*") if p.is_file()}
    cmd = [sys.executable, "-m", "autograder", "grade", str(subs), "--assignment", A, "--out", str(out),
           "--workers", "2", "--cell-timeout", "20", "--notebook-timeout", "300", "--memory-mb", "4096",
           "--no-similarity"]
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
            got_lost = {t for t in POINTS if float(row[t]) < POINTS[t]}
            if got_lost != lost:
                problems.append(f"{student}: lost {sorted(got_lost)}, expected {sorted(lost)} ({row['note']})")
        assert float(row["total"]) <= float(row["max"]) == FULL
    assert not problems, "\n".join(problems)
    assert "2 files" in rows["dup"]["note"] and "wrong file name" in rows["wrong_name"]["note"]
    # the scan quotes what it found, for the instructor
    for student in ("forge_custom_exc", "forge_audit_hook", "tamper_server_claims_success", "expected_from_the_stack",
                    "shortcut_disable_modes", "shortcut_clear_the_record"):
        assert "flagged:" in rows[student]["note"], rows[student]
    assert rows["fork_bomb"]["note"] and "process" in rows["fork_bomb"]["note"]

    # nothing outside the sandbox's scratch was written: the originals, the sentinel, the output
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in subs.rglob("*") if p.is_file()}
    assert after == originals
    assert not sentinel.exists() and list(sentinel.parent.iterdir()) == []
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{out / 'course' / 'gradebook.db'}") as gb:
        assert gb.find_submission(A, "honest").score == FULL
        assert gb.find_submission(A, "relu_bug").score == FULL - 1
    exported = {r["student_id"]: r for r in csv.DictReader((out / "nbgrader-export.csv").open())}
    assert float(exported["honest"]["score"]) == FULL and float(exported["empty"]["score"]) == 0

    # feedback: the failed test's message and hint, the graded notebook, never a hidden test line
    secret = nbfacts.hidden_test_lines(nbfacts.read(REPO_ROOT / "solutions" / A / NB))
    for page in (out / "feedback").rglob("*.html"):
        text = html.unescape(page.read_text())
        assert not [line for line in text.splitlines() if line.strip() in secret], page
        assert page.stat().st_size < 2_000_000, page
    relu = html.unescape((out / "feedback" / "relu_bug" / "activations.html").read_text())
    assert "relu_derivative" in relu and "Hint: ReLU's derivative at exactly 0 is 0" in relu
    assert "Your notebook, as graded" in relu and "def relu_derivative(x)" in relu
    assert "BEGIN HIDDEN TESTS" not in relu

    # rerun: nothing regraded, same CSV
    csv_before = (out / "grades.csv").read_text()
    second = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT)
    assert second.returncode == 0, second.stderr
    assert " 0 to grade" in second.stderr
    assert (out / "grades.csv").read_text() == csv_before
