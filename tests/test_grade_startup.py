"""What the checks and the grading processes load at start-up. Each case runs in a fresh
interpreter: the test process itself may already hold torch._dynamo or rfc3987_syntax."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from autograder import REPO_ROOT


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


def test_a_library_op_is_still_refused_with_the_handler_unwrapped():
    out = run_python("""
        import torch
        from autograder.checks import CheckFailure, basic, check_forward
        try:
            check_forward(torch.sigmoid, torch.sigmoid, name="sigmoid", allowed=basic(), devices=["cpu"])
        except CheckFailure as err:
            print("caught:", str(err).splitlines()[0])
    """)
    assert "caught: sigmoid runs aten.sigmoid" in out


def test_the_kernel_side_package_needs_neither_the_course_package_nor_nbgrader():
    # the sandbox binds only autograder_kernel: it must import and serve on its own
    out = run_python("""
        import sys
        sys.modules["autograder"] = None
        sys.modules["nbgrader"] = None
        import autograder_kernel.server, autograder_kernel.recorder, autograder_kernel.library, autograder_kernel.codec
        print("ok")
    """)
    assert out.strip() == "ok"


@pytest.mark.parametrize("module", ["autograder.grading.cli", "autograder.grading.batch", "autograder.grading.pool"])
def test_the_grade_command_process_imports_neither_torch_nor_the_slow_iri_checker(module):
    # the referee's torch lives in the workers; the command itself only coordinates
    out = run_python(f"""
        import sys, importlib
        importlib.import_module({module!r})
        import nbformat, nbgrader.api, nbgrader.preprocessors
        from autograder import notebook
        notebook.read({str(REPO_ROOT / 'solutions/01-activations/activations.ipynb')!r})
        print(sorted(m for m in ("torch", "rfc3987_syntax.syntax_helpers") if sys.modules.get(m)))
    """)
    assert out.strip() == "[]"
