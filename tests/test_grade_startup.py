"""What a grading kernel and a grading worker load at start-up, and what the kernel guard
tolerates. Each case runs in a fresh interpreter: the test process itself may already
hold torch._dynamo or rfc3987_syntax."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import nbformat
import pytest

from autograder import REPO_ROOT
from autograder.grading.inject import course_modules


def run_python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_checks_import_neither_torch_dynamo_nor_sympy():
    # torch wraps a TorchDispatchMode's handler in dynamo's "disable" unless told not to;
    # its first call imports torch._dynamo (1.5 s in every fresh kernel). autograd.grad with
    # an upstream gradient imports torch's symbolic shapes and sympy (0.6 s).
    out = run_python("""
        import sys, torch
        from autograder.checks import check_backward, check_derivative, check_forward
        check_forward(lambda x: x * 0, lambda x: x * 0, name="zero", devices=["cpu"], dtypes=[torch.float32])
        check_derivative(lambda x: 2 * x, lambda x: x * x, name="square'", devices=["cpu"])
        check_backward(lambda x, g: 2 * x * g, lambda x: x * x, name="square_backward", devices=["cpu"])
        print(sorted(m for m in ("torch._dynamo", "sympy") if m in sys.modules))
    """)
    assert out.strip().splitlines()[-1] == "[]"


def test_a_forbidden_op_is_still_caught_with_the_handler_unwrapped():
    out = run_python("""
        import torch
        from autograder.checks import check_forward
        from autograder.checks.guard import CheckFailure
        try:
            check_forward(torch.sigmoid, torch.sigmoid, name="sigmoid", forbidden=["aten.sigmoid"], devices=["cpu"])
        except CheckFailure as err:
            print("caught:", str(err).splitlines()[0])
    """)
    assert "caught: sigmoid calls aten.sigmoid" in out


def test_guard_snapshots_the_named_chapter_and_every_course_module_it_loaded():
    out = run_python("""
        import sys
        import autograder.grading.kernel_guard as g
        g.install(["autograder.chapters.activations"])
        watched = sorted(m for m in g.Guard._state["snap"]["modules"] if m.startswith("autograder"))
        print(" ".join(watched))
        print("softmax loaded" if "autograder.chapters.softmax" in sys.modules else "softmax not loaded")
    """)
    watched = out.split("\n")[0].split()
    assert "autograder.chapters.activations" in watched and "autograder.checks.api" in watched
    assert "autograder.checks.guard" in watched
    assert "softmax not loaded" in out


def test_guard_accepts_dynamos_own_rewrap_of_manual_seed_but_not_a_replacement():
    # creating the first optimizer imports torch._dynamo, which wraps torch.manual_seed;
    # an honest notebook that trains something must not read as tampering
    out = run_python("""
        import sys, torch
        import autograder.grading.kernel_guard as g
        g.install(["autograder.chapters.activations"])
        assert "torch._dynamo" not in sys.modules
        torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        assert "torch._dynamo" in sys.modules and torch.manual_seed is not torch.random.manual_seed
        g.Guard.verify("after an optimizer")
        print("optimizer ok")
        g.Guard.seed(0)
        print("seed ok")
        torch.manual_seed = lambda seed: None
        try:
            g.Guard.verify("after a replacement")
        except g.TamperingError as err:
            print("caught:", err)
    """)
    assert "optimizer ok" in out and "seed ok" in out
    assert "caught: after a replacement" in out and "torch.manual_seed was replaced" in out


def test_course_modules_lists_what_the_notebook_imports_without_importing_it():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("%matplotlib inline\nimport torch\nfrom autograder.chapters import softmax as ch"),
        nbformat.v4.new_code_cell("from autograder.checks import check_forward\nimport autograder.data"),
        nbformat.v4.new_code_cell("def broken(:\n    pass"),  # a syntax error is skipped
        nbformat.v4.new_code_cell("from autograder.chapters.softmax import reference_softmax\nimport os"),
    ])
    assert course_modules(nb) == ["autograder.chapters", "autograder.chapters.softmax", "autograder.checks",
                                  "autograder.data"]
    for path in sorted((REPO_ROOT / "solutions").glob("*/*.ipynb")):
        chapter = path.parent.name.split("-", 1)[1].replace("-", "_")
        assert f"autograder.chapters.{chapter}" in course_modules(nbformat.read(path, as_version=4)), path


@pytest.mark.parametrize("module", ["autograder.grading.worker", "autograder.grading.cli"])
def test_grading_processes_import_neither_torch_nor_the_slow_iri_checker(module):
    out = run_python(f"""
        import sys, importlib
        importlib.import_module({module!r})
        import nbformat, nbgrader.api, nbgrader.preprocessors
        from autograder.grading.inject import course_modules
        course_modules(nbformat.read({str(REPO_ROOT / 'solutions/01-activations/activations.ipynb')!r}, as_version=4))
        print(sorted(m for m in ("torch", "rfc3987_syntax.syntax_helpers") if sys.modules.get(m)))
    """)
    assert out.strip() == "[]"
